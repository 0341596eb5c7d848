//! Words for a POSIX shell: the one quoting rule every command this library builds uses.

/// `s` as one POSIX shell word: as it is when it holds only characters no shell treats
/// specially, otherwise single-quoted (with `'` written as `'\''`).
///
/// ```
/// use k3s_sdk::ssh::shell_quote;
///
/// assert_eq!(shell_quote("v1.33.4+k3s1"), "v1.33.4+k3s1");
/// assert_eq!(shell_quote("it's a node"), r"'it'\''s a node'");
/// assert_eq!(format!("kubectl get node {}", shell_quote("")), "kubectl get node ''");
/// ```
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&b))
    {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("abc/def-1.2"), "abc/def-1.2");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("a b"), "'a b'");
    }
}
