//! A small JSON reader producing [`serde_json::Value`], for configuration
//! text ([`crate::config::parse_json`]).
//!
//! It reads what `serde_json::from_str::<Value>` reads, into the same
//! values: strict RFC 8259 JSON, at most 127 nested arrays/objects, a
//! later duplicate key replacing an earlier one, integers as `u64`/`i64`
//! when they fit (`-0` as the float `-0.0`, as serde_json does) and
//! anything else as `f64` (correctly rounded; serde_json's default parser
//! can be one unit in the last place off on long mantissas). Errors use
//! serde_json's wording and `at line L column C`.
//!
//! Why not serde_json's own parser: its deserializer, error machinery
//! and number tables were ~16 KB of the wasm module, for text read once.

use serde_json::{Map, Number, Value};

/// serde_json's nesting limit: 127 levels, the 128th is refused.
const MAX_DEPTH: usize = 128;

/// Parses `text` as one JSON value.
pub(crate) fn parse(text: &str) -> Result<Value, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        pos: 0,
        depth: 0,
    };
    let v = p.value()?;
    p.ws();
    if p.pos < p.s.len() {
        return Err(p.error("trailing characters"));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    /// `msg at line L column C`, for the byte at `pos` (the last one at
    /// the end of the input).
    fn error(&self, msg: &str) -> String {
        let at = self.pos.min(self.s.len());
        let before = &self.s[..at];
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let column = at - start + usize::from(self.pos < self.s.len());
        format!("{msg} at line {line} column {column}")
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.s.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn value(&mut self) -> Result<Value, String> {
        self.ws();
        let Some(b) = self.peek() else {
            return Err(self.error("EOF while parsing a value"));
        };
        match b {
            b'n' => self.word(b"null", Value::Null),
            b't' => self.word(b"true", Value::Bool(true)),
            b'f' => self.word(b"false", Value::Bool(false)),
            b'"' => {
                self.pos += 1;
                self.string().map(Value::String)
            }
            b'-' | b'0'..=b'9' => self.number(),
            b'[' | b'{' => {
                self.depth += 1;
                if self.depth >= MAX_DEPTH {
                    return Err(self.error("recursion limit exceeded"));
                }
                self.pos += 1;
                let v = if b == b'[' {
                    self.array()
                } else {
                    self.object()
                };
                self.depth -= 1;
                v
            }
            _ => Err(self.error("expected value")),
        }
    }

    fn word(&mut self, word: &[u8], v: Value) -> Result<Value, String> {
        for &w in word {
            match self.peek() {
                None => return Err(self.error("EOF while parsing a value")),
                Some(b) if b == w => self.pos += 1,
                Some(_) => return Err(self.error("expected ident")),
            }
        }
        Ok(v)
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.pos;
        let neg = self.peek() == Some(b'-');
        if neg {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if self.peek().is_some_and(|b| b.is_ascii_digit()) {
                    return Err(self.error("invalid number"));
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            None => return Err(self.error("EOF while parsing a value")),
            Some(_) => return Err(self.error("invalid number")),
        }
        let mut float = false;
        if self.peek() == Some(b'.') {
            float = true;
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.invalid_number_end());
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            float = true;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.invalid_number_end());
            }
        }
        let text = &self.s[start..self.pos];
        if !float {
            // Only ASCII digits (and a sign) here.
            let digits = std::str::from_utf8(&text[usize::from(neg)..]).unwrap_or("");
            if let Ok(n) = digits.parse::<u64>() {
                if !neg {
                    return Ok(Value::Number(n.into()));
                }
                if n != 0 && n <= 1 << 63 {
                    return Ok(Value::Number((n.wrapping_neg() as i64).into()));
                }
            }
        }
        match std::str::from_utf8(text)
            .ok()
            .and_then(|t| t.parse().ok())
            .and_then(Number::from_f64)
        {
            Some(n) => Ok(Value::Number(n)),
            None => Err(self.error("number out of range")),
        }
    }

    fn invalid_number_end(&self) -> String {
        if self.pos < self.s.len() {
            self.error("invalid number")
        } else {
            self.error("EOF while parsing a value")
        }
    }

    /// After the opening quote.
    fn string(&mut self) -> Result<String, String> {
        let mut out = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                return Err(self.error("EOF while parsing a string"));
            };
            self.pos += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let Some(e) = self.peek() else {
                        return Err(self.error("EOF while parsing a string"));
                    };
                    self.pos += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => {
                            self.pos -= 1;
                            return Err(self.error("invalid escape"));
                        }
                    };
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                0..=0x1f => {
                    self.pos -= 1;
                    return Err(self.error(
                        "control character (\\u0000-\\u001F) found while parsing a string",
                    ));
                }
                _ => out.push(b),
            }
        }
        // The input is a `&str` and escapes add whole characters.
        String::from_utf8(out).map_err(|_| self.error("invalid unicode code point"))
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let mut v = 0;
        for _ in 0..4 {
            let Some(b) = self.peek() else {
                return Err(self.error("EOF while parsing a string"));
            };
            let Some(d) = char::from(b).to_digit(16) else {
                return Err(self.error("invalid escape"));
            };
            self.pos += 1;
            v = v * 16 + d;
        }
        Ok(v)
    }

    /// After `\u`: one code point, a surrogate pair taking two escapes.
    fn unicode_escape(&mut self) -> Result<char, String> {
        let hi = self.hex4()?;
        let code = match hi {
            0xDC00..=0xDFFF => return Err(self.error("lone leading surrogate in hex escape")),
            0xD800..=0xDBFF => {
                if self.s.get(self.pos..self.pos + 2) != Some(b"\\u") {
                    return Err(self.error("unexpected end of hex escape"));
                }
                self.pos += 2;
                let lo = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&lo) {
                    return Err(self.error("lone leading surrogate in hex escape"));
                }
                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
            }
            c => c,
        };
        char::from_u32(code).ok_or_else(|| self.error("invalid unicode code point"))
    }

    /// After `[`.
    fn array(&mut self) -> Result<Value, String> {
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value()?);
            self.ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.ws();
                    if self.peek() == Some(b']') {
                        return Err(self.error("trailing comma"));
                    }
                }
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                Some(_) => return Err(self.error("expected `,` or `]`")),
                None => return Err(self.error("EOF while parsing a list")),
            }
        }
    }

    /// After `{`.
    fn object(&mut self) -> Result<Value, String> {
        let mut map = Map::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(map));
        }
        loop {
            match self.peek() {
                Some(b'"') => self.pos += 1,
                Some(_) => return Err(self.error("key must be a string")),
                None => return Err(self.error("EOF while parsing an object")),
            }
            let key = self.string()?;
            self.ws();
            match self.peek() {
                Some(b':') => self.pos += 1,
                Some(_) => return Err(self.error("expected `:`")),
                None => return Err(self.error("EOF while parsing an object")),
            }
            let v = self.value()?;
            map.insert(key, v);
            self.ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.ws();
                    if self.peek() == Some(b'}') {
                        return Err(self.error("trailing comma"));
                    }
                }
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(map));
                }
                Some(_) => return Err(self.error("expected `,` or `}`")),
                None => return Err(self.error("EOF while parsing an object")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Same value (numbers compared by variant and bits) or both errors.
    fn same(text: &str) {
        let want = serde_json::from_str::<Value>(text);
        let got = parse(text);
        match (&got, &want) {
            (Ok(g), Ok(w)) => assert!(identical(g, w), "{text:?}: {g:?} vs serde_json {w:?}"),
            (Err(_), Err(_)) => {}
            _ => panic!("{text:?}: {got:?} vs serde_json {want:?}"),
        }
    }

    fn identical(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => {
                x.as_u64() == y.as_u64()
                    && x.as_i64() == y.as_i64()
                    && x.is_f64() == y.is_f64()
                    && x.as_f64().map(f64::to_bits) == y.as_f64().map(f64::to_bits)
            }
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(a, b)| identical(a, b))
            }
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len()
                    && x.iter()
                        .zip(y)
                        .all(|((ka, a), (kb, b))| ka == kb && identical(a, b))
            }
            _ => a == b,
        }
    }

    #[test]
    fn reads_what_serde_json_reads() {
        let cases = [
            "",
            " ",
            "null",
            "true",
            "false",
            "nul",
            "tru",
            "True",
            "0",
            "-0",
            "-0.0",
            "1",
            "-1",
            "01",
            "-01",
            "1.",
            "1.5",
            ".5",
            "-",
            "1e5",
            "1E+5",
            "1e-5",
            "1e",
            "1e+",
            "1.5e3",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "1e400",
            "-1e400",
            "1e-400",
            "123456789012345678901234567890",
            "0.1",
            "2.5",
            "\"\"",
            "\"a\"",
            "\"a",
            "\"\\n\\t\\\"\\\\\\/\\b\\f\\r\"",
            "\"\\u00e9\\u20ac\"",
            "\"\\ud83d\\ude00\"",
            "\"\\ud83d\"",
            "\"\\ude00\"",
            "\"\\ud83dx\"",
            "\"\\u12\"",
            "\"\\x\"",
            "\"a\u{1}b\"",
            "\"é€😀\"",
            "[]",
            "[1,2]",
            "[1,]",
            "[,1]",
            "[1 2]",
            "[",
            "[1",
            "{}",
            "{\"a\":1}",
            "{\"a\":1,}",
            "{a:1}",
            "{\"a\" 1}",
            "{\"a\":1,\"a\":2}",
            "{\"a\":",
            "{\"a\"",
            "{",
            "{\"b\":[1,{\"c\":null}]}",
            " \n\t\r[ 1 , 2 ] \n",
            "[1] x",
            "1 2",
            "nullx",
            "[true,false,null]",
            "\u{feff}1",
            "{\"dogstatsd_mapper_profiles\":[{\"name\":\"p\",\"prefix\":\"a.\",\"mappings\":[]}]}",
        ];
        for c in cases {
            same(c);
        }
        same(&format!("{}1{}", "[".repeat(127), "]".repeat(127)));
        same(&format!("{}1{}", "[".repeat(128), "]".repeat(128)));
        same(&format!("{}1{}", "[".repeat(129), "]".repeat(129)));
        same(&format!("{}{}", "{\"a\":".repeat(129), "}".repeat(129)));
    }

    #[test]
    fn errors_say_what_serde_json_says() {
        for text in [
            "{\"a\": ",
            "[1,\n x]",
            "1 2",
            "[1,]",
            "{\"a\" 1}",
            "\"\\x\"",
            "{1:2}",
            "nul",
        ] {
            let want = serde_json::from_str::<Value>(text).unwrap_err().to_string();
            assert_eq!(parse(text).unwrap_err(), want, "{text:?}");
        }
    }
}
