"""Dependency cycles between the resources of a (translated) CloudFormation template.

CloudFormation orders resource creation by the references between them: `Ref`, `Fn::GetAtt`,
the `${Name}` / `${Name.Attribute}` placeholders of `Fn::Sub`, and `DependsOn`. A cycle among
them fails the whole deployment before anything is created. This check is our own, so that a
cycle fails with the resources' names whatever version of cfn-lint is pinned.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

# ${Name} or ${Name.Attribute}; ${!Literal} is not a reference.
SUB_PLACEHOLDER = re.compile(r"\$\{([^!}][^}]*)\}")


def references(node: Any, resources: set[str]) -> Iterator[str]:
    """Every resource a template fragment refers to."""
    if isinstance(node, list):
        for item in node:
            yield from references(item, resources)
        return
    if not isinstance(node, dict):
        return
    if len(node) == 1:
        (fn, arg), = node.items()
        if fn == "Ref" and isinstance(arg, str):
            if arg in resources:
                yield arg
            return
        if fn == "Fn::GetAtt":
            name = arg.split(".", 1)[0] if isinstance(arg, str) else arg[0]
            if name in resources:
                yield name
            if isinstance(arg, list):  # the attribute name may itself be a Ref
                yield from references(arg[1:], resources)
            return
        if fn == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            yield from references(variables, resources)
            for placeholder in SUB_PLACEHOLDER.findall(text):
                name = placeholder.split(".", 1)[0].strip()
                if name in resources and name not in variables:
                    yield name
            return
    for value in node.values():
        yield from references(value, resources)


def dependencies(template: dict) -> dict[str, set[str]]:
    """Resource -> the resources it needs created first."""
    resources = template["Resources"]
    names = set(resources)
    graph: dict[str, set[str]] = {}
    for name, resource in resources.items():
        needs = set(references({k: v for k, v in resource.items() if k != "DependsOn"}, names))
        depends_on = resource.get("DependsOn", [])
        needs |= {depends_on} if isinstance(depends_on, str) else set(depends_on)
        graph[name] = needs
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with a cycle in them (size > 1, or a self-loop)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in graph:
                continue  # a DependsOn on a missing resource is cfn-lint's to report
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(out)


def one_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """A shortest closed path through the component's first resource: [a, b, ..., a]."""
    start = component[0]
    members = set(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        next_frontier = []
        for node in frontier:
            for succ in sorted(graph[node] & members):
                if succ == start:
                    return paths[node] + [start]
                if succ not in paths:
                    paths[succ] = paths[node] + [succ]
                    next_frontier.append(succ)
        frontier = next_frontier
    raise AssertionError(f"{component} is not a cycle")


def describe(template: dict) -> list[str]:
    """One line per cycle, e.g. 'NotificationKey -> ...Role -> NotificationTopic -> NotificationKey
    (component: ...)'; empty when the template can be ordered."""
    graph = dependencies(template)
    return [f"{' -> '.join(one_cycle(graph, c))} (all resources in the cycle: {', '.join(c)})"
            for c in strongly_connected(graph)]
