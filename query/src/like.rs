//! SQL `LIKE` matching: `%` is any run of characters, `_` one character, `\` escapes the next
//! character. Case-sensitive; `ILIKE` lowercases both sides first.

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Char(char),
    One,
    Many,
}

#[derive(Clone, Debug)]
pub(crate) struct LikePattern {
    tokens: Vec<Token>,
    case_insensitive: bool,
}

impl LikePattern {
    pub(crate) fn new(pattern: &str, case_insensitive: bool) -> LikePattern {
        let pattern = if case_insensitive {
            pattern.to_lowercase()
        } else {
            pattern.to_string()
        };
        let mut tokens = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '%' => Token::Many,
                '_' => Token::One,
                '\\' => Token::Char(chars.next().unwrap_or('\\')),
                c => Token::Char(c),
            });
        }
        LikePattern {
            tokens,
            case_insensitive,
        }
    }

    pub(crate) fn matches(&self, text: &str) -> bool {
        if self.case_insensitive {
            let lower = text.to_lowercase();
            self.matches_chars(&lower.chars().collect::<Vec<_>>())
        } else {
            self.matches_chars(&text.chars().collect::<Vec<_>>())
        }
    }

    /// Greedy matching with backtracking to the last `%`: linear for typical patterns.
    fn matches_chars(&self, text: &[char]) -> bool {
        let (mut t, mut p) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.tokens.get(p) {
                Some(Token::Many) => {
                    star = Some((p, t));
                    p += 1;
                }
                Some(Token::One) => {
                    t += 1;
                    p += 1;
                }
                Some(Token::Char(c)) if *c == text[t] => {
                    t += 1;
                    p += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        p = sp + 1;
                        t = st + 1;
                        star = Some((sp, st + 1));
                    }
                    None => return false,
                },
            }
        }
        self.tokens[p..].iter().all(|tok| *tok == Token::Many)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn like(p: &str, t: &str) -> bool {
        LikePattern::new(p, false).matches(t)
    }

    #[test]
    fn wildcards_and_escapes() {
        assert!(like("/p/%", "/p/shoes"));
        assert!(like("/p/%", "/p/"));
        assert!(!like("/p/%", "/q/shoes"));
        assert!(like("%shoe%", "/p/shoes"));
        assert!(like("_b_", "abc"));
        assert!(!like("_b_", "abcd"));
        assert!(like("a%b%c", "aXXbYYc"));
        assert!(!like("a%b%c", "aXXcYYb"));
        assert!(like("100\\%", "100%"));
        assert!(!like("100\\%", "1000"));
        assert!(like("%", ""));
        assert!(!like("_", ""));
        assert!(like("ü_", "üx"));
        assert!(!like("ABC", "abc"));
        assert!(LikePattern::new("ABC%", true).matches("abcdef"));
    }
}
