//! The INI dialect of the original (Python `configparser`): sections, `key = value` or
//! `key: value`, comments, continuation lines, case-insensitive keys, a `DEFAULT` section and
//! basic interpolation. Text in, sections and values out; it knows no key of the service.

use std::collections::BTreeMap;
use std::path::Path;

use super::ConfigError;

/// A parsed INI file: section → key → value, keys lower-cased, interpolation applied.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Ini {
    pub(crate) sections: BTreeMap<String, BTreeMap<String, String>>,
}

impl Ini {
    pub(crate) fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.sections
            .get(section)
            .and_then(|s| s.get(key))
            .map(String::as_str)
    }
}

/// Parses the `configparser` dialect: `[section]`, `key = value` or `key: value`, full-line
/// `#`/`;` comments, indented continuation lines, case-insensitive keys, a `DEFAULT` section
/// whose keys every section inherits, and basic interpolation (`%%`, `%(key)s`).
pub fn parse_ini(text: &str, file: &Path) -> Result<Ini, ConfigError> {
    let syntax = |line: usize, reason: String| ConfigError::Syntax {
        file: file.to_path_buf(),
        line,
        reason,
    };
    // Raw values first, interpolation afterwards (it may refer to keys defined later).
    let mut raw: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut section: Option<String> = None;
    // (section, key, indentation of the key line) of the value that continuation lines extend
    let mut last: Option<(String, String, usize)> = None;
    for (idx, line) in text.lines().enumerate() {
        let lineno = idx + 1;
        let line = line.strip_prefix('\u{feff}').unwrap_or(line);
        let trimmed = line.trim();
        let indent = line.len() - line.trim_start().len();
        if trimmed.is_empty() {
            last = None;
            continue;
        }
        if trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if let Some((sec, key, key_indent)) = &last {
            if indent > *key_indent {
                if let Some(v) = raw.get_mut(sec).and_then(|s| s.get_mut(key)) {
                    v.push('\n');
                    v.push_str(trimmed);
                }
                continue;
            }
        }
        if trimmed.starts_with('[') {
            let Some(name) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) else {
                return Err(syntax(
                    lineno,
                    format!("a section header must look like [name], got {trimmed:?}"),
                ));
            };
            if raw.contains_key(name) {
                return Err(syntax(lineno, format!("section [{name}] appears twice")));
            }
            raw.insert(name.to_string(), BTreeMap::new());
            section = Some(name.to_string());
            last = None;
            continue;
        }
        let Some(sec) = section.clone() else {
            return Err(syntax(
                lineno,
                format!("{trimmed:?} comes before any [section] header"),
            ));
        };
        let pos = trimmed.find(['=', ':']);
        let Some(pos) = pos else {
            return Err(syntax(
                lineno,
                format!("expected `key = value` in [{sec}], got {trimmed:?}"),
            ));
        };
        let key = trimmed[..pos].trim().to_lowercase();
        let value = trimmed[pos + 1..].trim().to_string();
        if key.is_empty() {
            return Err(syntax(
                lineno,
                format!("a key name is missing in [{sec}]: {trimmed:?}"),
            ));
        }
        let entries = raw.entry(sec.clone()).or_default();
        if entries.contains_key(&key) {
            return Err(syntax(
                lineno,
                format!("key {key:?} appears twice in [{sec}]"),
            ));
        }
        entries.insert(key.clone(), value);
        last = Some((sec, key, indent));
    }

    let defaults = raw.remove("DEFAULT").unwrap_or_default();
    let mut ini = Ini::default();
    for (sec, entries) in &raw {
        let mut merged = defaults.clone();
        merged.extend(entries.iter().map(|(k, v)| (k.clone(), v.clone())));
        let mut out = BTreeMap::new();
        for (key, value) in &merged {
            let v = interpolate(value, &merged, 0).map_err(|reason| ConfigError::Value {
                file: file.to_path_buf(),
                section: sec.clone(),
                key: key.clone(),
                value: value.clone(),
                expected: reason,
            })?;
            out.insert(key.clone(), v);
        }
        ini.sections.insert(sec.clone(), out);
    }
    Ok(ini)
}

/// `configparser`'s BasicInterpolation: `%%` is a literal `%`, `%(key)s` the value of another
/// key of the same section (or DEFAULT); any other `%` is an error, as it was in the original.
fn interpolate(
    value: &str,
    vars: &BTreeMap<String, String>,
    depth: usize,
) -> Result<String, String> {
    if depth > 10 {
        return Err("no interpolation loop (%(key)s refers back to itself)".into());
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos..];
        if let Some(r) = rest.strip_prefix("%%") {
            out.push('%');
            rest = r;
        } else if let Some(r) = rest.strip_prefix("%(") {
            let Some(end) = r.find(")s") else {
                return Err("`%(key)s` or `%%` for a literal percent sign".into());
            };
            let name = r[..end].to_lowercase();
            let Some(target) = vars.get(&name) else {
                return Err(format!("a defined key in %({name})s"));
            };
            out.push_str(&interpolate(target, vars, depth + 1)?);
            rest = &r[end + 2..];
        } else {
            return Err("`%%` for a literal percent sign (a lone `%` is not allowed)".into());
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("/etc/test.conf")
    }

    #[test]
    fn configparser_dialect() {
        let text = "\u{feff}# comment\n[DEFAULT]\nbase = /srv\n\n[general]\nSocket_Port: 8080\n  ; indented comment\nserver_prefix = %(base)s/x\n\n[jwt]\nsecret_key = abc%%def\n  continued\n";
        let ini = parse_ini(text, p()).unwrap();
        assert_eq!(ini.get("general", "socket_port"), Some("8080"));
        assert_eq!(ini.get("general", "server_prefix"), Some("/srv/x"));
        assert_eq!(ini.get("jwt", "secret_key"), Some("abc%def\ncontinued"));
        assert_eq!(ini.get("jwt", "base"), Some("/srv"));
    }

    #[test]
    fn syntax_errors_name_file_and_line() {
        let e = parse_ini("[general]\nnot a pair\n", p()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/test.conf:2: expected `key = value` in [general], got \"not a pair\""
        );
        let e = parse_ini("key = v\n", p()).unwrap_err();
        assert!(e.to_string().contains(":1:"), "{e}");
        let e = parse_ini("[a]\nk=1\nk=2\n", p()).unwrap_err();
        assert!(e.to_string().contains("appears twice"), "{e}");
        let e = parse_ini("[a]\nk=100%\n", p()).unwrap_err();
        assert!(e.to_string().contains("[a] k"), "{e}");
    }
}
