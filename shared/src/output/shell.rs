//! Suggested AWS CLI commands. Every value is quoted for a POSIX shell, so text that came from a
//! finding can never become a command.

/// Quote `s` for a POSIX shell; plain words stay readable.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_quoted(&mut out, s);
    out
}

/// `quote(s)` appended to `out`.
pub fn push_quoted(out: &mut String, s: &str) {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./:=,@%+".contains(&b));
    if plain {
        out.push_str(s);
        return;
    }
    out.push('\'');
    for (i, part) in s.split('\'').enumerate() {
        if i > 0 {
            out.push_str(r"'\''");
        }
        out.push_str(part);
    }
    out.push('\'');
}

/// `aws <service> <command> --flag value …`, each value quoted.
#[derive(Clone, Debug)]
pub struct Cli {
    line: String,
}

impl Cli {
    pub fn aws(service: &str, command: &str) -> Self {
        Cli {
            line: format!("aws {service} {command}"),
        }
    }

    pub fn arg(mut self, flag: &str, value: &str) -> Self {
        self.line.push(' ');
        self.line.push_str(flag);
        self.line.push(' ');
        push_quoted(&mut self.line, value);
        self
    }

    pub fn flag(mut self, flag: &str) -> Self {
        self.line.push(' ');
        self.line.push_str(flag);
        self
    }

    pub fn build(self) -> String {
        self.line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_stay_plain() {
        assert_eq!(quote("payments-prod"), "payments-prod");
        assert_eq!(
            quote("arn:aws:eks:us-east-1:1:cluster/x"),
            "arn:aws:eks:us-east-1:1:cluster/x"
        );
    }

    #[test]
    fn anything_else_is_single_quoted() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("x; rm -rf /"), "'x; rm -rf /'");
        assert_eq!(quote("$(id)"), "'$(id)'");
        assert_eq!(quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn builds_a_command() {
        let c = Cli::aws("eks", "describe-cluster")
            .arg("--region", "us-east-1")
            .arg("--name", "a`b")
            .build();
        assert_eq!(
            c,
            "aws eks describe-cluster --region us-east-1 --name 'a`b'"
        );
    }
}
