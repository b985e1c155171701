//! A small backtracking regular-expression matcher for the `pattern`
//! keyword (the crate takes no regex dependency). It covers the ECMA-262
//! subset specs use: literals, `.`, anchors `^` `$`, classes `[a-z0-9_]`
//! and `[^...]`, escapes `\d \w \s \D \W \S` and escaped punctuation,
//! groups `(...)`/`(?:...)` with `|`, and quantifiers `? * + {n} {n,} {n,m}`
//! (lazy forms accepted). Anything else (look-around, back-references,
//! `\b`, Unicode classes) is reported as unsupported and the pattern is not
//! checked.

/// A compiled pattern.
#[derive(Debug)]
pub(crate) struct Pattern {
    alts: Vec<Vec<Item>>,
}

#[derive(Debug)]
struct Item {
    node: Node,
    min: u32,
    max: u32,
}

#[derive(Debug)]
enum Node {
    Char(char),
    Any,
    Class {
        ranges: Vec<(char, char)>,
        negated: bool,
    },
    Start,
    End,
    Group(Vec<Vec<Item>>),
}

const UNBOUNDED: u32 = u32::MAX;

impl Pattern {
    /// Compiles `source`; `Err` says which construct is unsupported.
    pub(crate) fn new(source: &str) -> Result<Pattern, String> {
        let chars: Vec<char> = source.chars().collect();
        let mut p = Parser {
            chars: &chars,
            pos: 0,
        };
        let alts = p.alternation()?;
        if p.pos < chars.len() {
            return Err(format!("unbalanced ')' at {}", p.pos));
        }
        Ok(Pattern { alts })
    }

    /// Does the pattern match anywhere in `text` (ECMA `test` semantics)?
    pub(crate) fn is_match(&self, text: &str) -> bool {
        let input: Vec<char> = text.chars().collect();
        let m = Matcher { input: &input };
        (0..=input.len()).any(|start| self.alts.iter().any(|seq| m.seq(seq, start, &mut |_| true)))
    }
}

struct Parser<'a> {
    chars: &'a [char],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn alternation(&mut self) -> Result<Vec<Vec<Item>>, String> {
        let mut alts = vec![self.sequence()?];
        while self.peek() == Some('|') {
            self.pos += 1;
            alts.push(self.sequence()?);
        }
        Ok(alts)
    }

    fn sequence(&mut self) -> Result<Vec<Item>, String> {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let node = self.atom()?;
            let (min, max) = self.quantifier()?;
            items.push(Item { node, min, max });
        }
        Ok(items)
    }

    fn atom(&mut self) -> Result<Node, String> {
        let Some(c) = self.peek() else {
            return Err("unexpected end".into());
        };
        self.pos += 1;
        Ok(match c {
            '^' => Node::Start,
            '$' => Node::End,
            '.' => Node::Any,
            '(' => {
                if self.peek() == Some('?') {
                    if self.chars.get(self.pos + 1) == Some(&':') {
                        self.pos += 2;
                    } else {
                        return Err("look-around and named groups are not supported".into());
                    }
                }
                let alts = self.alternation()?;
                if self.peek() != Some(')') {
                    return Err("missing ')'".into());
                }
                self.pos += 1;
                Node::Group(alts)
            }
            '[' => self.class()?,
            '\\' => self.escape(false)?,
            '*' | '+' | '?' | '{' => return Err(format!("nothing to repeat before '{c}'")),
            other => Node::Char(other),
        })
    }

    /// After a `\`: a class shorthand or a literal.
    fn escape(&mut self, in_class: bool) -> Result<Node, String> {
        let Some(c) = self.peek() else {
            return Err("pattern ends with '\\'".into());
        };
        self.pos += 1;
        let class = |ranges: Vec<(char, char)>, negated| Node::Class { ranges, negated };
        let digit = vec![('0', '9')];
        let word = vec![('a', 'z'), ('A', 'Z'), ('0', '9'), ('_', '_')];
        let space = vec![(' ', ' '), ('\t', '\r'), ('\u{a0}', '\u{a0}')];
        Ok(match c {
            'd' => class(digit, false),
            'D' => class(digit, true),
            'w' => class(word, false),
            'W' => class(word, true),
            's' => class(space, false),
            'S' => class(space, true),
            'n' => Node::Char('\n'),
            't' => Node::Char('\t'),
            'r' => Node::Char('\r'),
            'b' if in_class => Node::Char('\u{8}'),
            c if c.is_ascii_punctuation() || c == ' ' => Node::Char(c),
            other => return Err(format!("escape '\\{other}' is not supported")),
        })
    }

    fn class(&mut self) -> Result<Node, String> {
        let negated = self.peek() == Some('^');
        if negated {
            self.pos += 1;
        }
        let mut ranges = Vec::new();
        let mut first = true;
        loop {
            let Some(c) = self.peek() else {
                return Err("missing ']'".into());
            };
            if c == ']' && !first {
                self.pos += 1;
                break;
            }
            first = false;
            self.pos += 1;
            let lo = if c == '\\' {
                match self.escape(true)? {
                    Node::Char(ch) => ch,
                    Node::Class {
                        ranges: r,
                        negated: false,
                    } => {
                        ranges.extend(r);
                        continue;
                    }
                    _ => return Err("negated shorthand inside a class is not supported".into()),
                }
            } else {
                c
            };
            let is_range =
                self.peek() == Some('-') && self.chars.get(self.pos + 1).is_some_and(|&n| n != ']');
            if is_range {
                self.pos += 1;
                let Some(mut hi) = self.peek() else {
                    return Err("missing ']'".into());
                };
                self.pos += 1;
                if hi == '\\' {
                    match self.escape(true)? {
                        Node::Char(ch) => hi = ch,
                        _ => return Err("class shorthand as a range end".into()),
                    }
                }
                if hi < lo {
                    return Err(format!("range {lo}-{hi} out of order"));
                }
                ranges.push((lo, hi));
            } else {
                ranges.push((lo, lo));
            }
        }
        Ok(Node::Class { ranges, negated })
    }

    fn quantifier(&mut self) -> Result<(u32, u32), String> {
        let q = match self.peek() {
            Some('?') => (0, 1),
            Some('*') => (0, UNBOUNDED),
            Some('+') => (1, UNBOUNDED),
            Some('{') => return self.braces(),
            _ => return Ok((1, 1)),
        };
        self.pos += 1;
        self.lazy_suffix();
        Ok(q)
    }

    fn braces(&mut self) -> Result<(u32, u32), String> {
        let close = self.chars[self.pos..]
            .iter()
            .position(|&c| c == '}')
            .ok_or("missing '}'")?;
        let body: String = self.chars[self.pos + 1..self.pos + close].iter().collect();
        let num = |s: &str| {
            s.trim()
                .parse::<u32>()
                .map_err(|_| format!("bad repetition {{{body}}}"))
        };
        let q = match body.split_once(',') {
            None => {
                let n = num(&body)?;
                (n, n)
            }
            Some((lo, "")) => (num(lo)?, UNBOUNDED),
            Some((lo, hi)) => (num(lo)?, num(hi)?),
        };
        if q.0 > q.1 {
            return Err(format!("bad repetition {{{body}}}"));
        }
        self.pos += close + 1;
        self.lazy_suffix();
        Ok(q)
    }

    fn lazy_suffix(&mut self) {
        if self.peek() == Some('?') {
            self.pos += 1;
        }
    }
}

struct Matcher<'a> {
    input: &'a [char],
}

impl Matcher<'_> {
    fn seq(&self, items: &[Item], pos: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
        let Some((first, rest)) = items.split_first() else {
            return k(pos);
        };
        self.repeat(first, 0, pos, &mut |p| self.seq(rest, p, k))
    }

    /// Greedy repetition with backtracking; an empty iteration ends the loop.
    fn repeat(
        &self,
        item: &Item,
        count: u32,
        pos: usize,
        k: &mut dyn FnMut(usize) -> bool,
    ) -> bool {
        if count < item.max
            && self.atom(&item.node, pos, &mut |p| {
                if p == pos {
                    count + 1 >= item.min && k(p)
                } else {
                    self.repeat(item, count + 1, p, k)
                }
            })
        {
            return true;
        }
        count >= item.min && k(pos)
    }

    fn atom(&self, node: &Node, pos: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
        let here = self.input.get(pos).copied();
        match node {
            Node::Char(c) => here == Some(*c) && k(pos + 1),
            Node::Any => here.is_some_and(|c| c != '\n' && c != '\r') && k(pos + 1),
            Node::Class { ranges, negated } => {
                here.is_some_and(|c| ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated)
                    && k(pos + 1)
            }
            Node::Start => pos == 0 && k(pos),
            Node::End => pos == self.input.len() && k(pos),
            Node::Group(alts) => alts.iter().any(|seq| self.seq(seq, pos, k)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        Pattern::new(p)
            .unwrap_or_else(|e| panic!("{p}: {e}"))
            .is_match(s)
    }

    #[test]
    fn decimal_amounts_and_codes() {
        let amount = r"^[0-9]+(\.[0-9]{1,3})?$";
        for good in ["0", "12", "12.5", "12.500"] {
            assert!(m(amount, good), "{good}");
        }
        for bad in ["", "12.", "12.5000", "-1", "1e3", "12.5 "] {
            assert!(!m(amount, bad), "{bad}");
        }
        assert!(m("^[A-Z]{3}$", "USD"));
        assert!(!m("^[A-Z]{3}$", "usd"));
        assert!(!m("^[A-Z]{3}$", "USDT"));
        let secret = "^whsec_[A-Za-z0-9+/=]{16,}$";
        assert!(m(secret, "whsec_abcdefghijklmnop+/="));
        assert!(!m(secret, "whsec_short"));
    }

    #[test]
    fn search_alternation_and_classes() {
        assert!(m("b+", "abbc"));
        assert!(!m("^b+", "abbc"));
        assert!(m("^(?:cat|dog)s?$", "dogs"));
        assert!(!m("^(cat|dog)s?$", "cow"));
        assert!(m(r"^\d{2}-\w+\s?$", "12-ab_c "));
        assert!(m("^[^0-9]*$", "abc"));
        assert!(!m("^[^0-9]*$", "a1"));
        assert!(m("^a.c$", "abc"));
        assert!(m("^[a-]+$", "a-a"));
        assert!(m("^(a|ab)(c|bcd)(d*)$", "abcd"));
        assert!(m("^(a*)*$", "aaaa"));
        assert!(m("^x{2,3}?$", "xxx"));
    }

    #[test]
    fn unsupported_constructs_are_refused() {
        for p in [
            "(?=a)", r"\bword", r"\p{L}", "a{3", "(a", "[a", "*a", "[z-a]",
        ] {
            assert!(Pattern::new(p).is_err(), "{p}");
        }
    }
}
