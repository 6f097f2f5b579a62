//! `older_than`, the age of a clean-up rule, read as GitLab reads it (its vendored
//! ChronicDuration): `1h`, `2d`, `1month`, `1d 12h`, ... into seconds. The forms GitLab reads
//! loosely are refused, so a typo cannot silently mean something else. Pure text parsing.

/// Seconds per unit of `older_than`, as GitLab's ChronicDuration reads them.
fn unit_seconds(unit: &str) -> Option<f64> {
    Some(match unit {
        "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
        "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
        "d" | "dy" | "day" | "days" => 86_400.0,
        "w" | "wk" | "wks" | "week" | "weeks" => 7.0 * 86_400.0,
        "mo" | "mos" | "month" | "months" => 30.0 * 86_400.0,
        "y" | "yr" | "yrs" | "year" | "years" => 31_557_600.0,
        _ => return None,
    })
}

const OLDER_THAN_FORM: &str = "expected a time span such as 1h, 2d, 7d, 30d, 1month or \"1d 12h\" \
     (units s, m, h, d, w, mo, y or their long forms; m is minutes)";

/// Parses `older_than` into seconds: one or more terms `<number>[ ]<unit>` (a number without
/// a unit is seconds), separated by spaces, commas or the words `and`/`with`/`plus`; numbers
/// may have decimals; case does not matter. These are the forms GitLab's ChronicDuration
/// reads the same way; what it would read loosely (unknown words, which it skips, a unit
/// without a number, clock forms like `1:30`) is refused here, and so is a zero span, on
/// which GitLab's clean-up fails.
pub(crate) fn parse_older_than(text: &str) -> Result<f64, String> {
    let lower = text.trim().to_ascii_lowercase();
    // Split into numbers and words, so "1d12h" and "1 d 12 h" read alike.
    let mut tokens: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut cur_is_num = false;
    for c in lower.chars() {
        let is_num = c.is_ascii_digit() || c == '.';
        let is_word = c.is_ascii_alphabetic();
        if !(is_num || is_word) {
            if !(c.is_whitespace() || c == ',') {
                return Err(format!("{text:?}: unexpected {c:?}; {OLDER_THAN_FORM}"));
            }
            if !cur.is_empty() {
                tokens.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if !cur.is_empty() && is_num != cur_is_num {
            tokens.push(std::mem::take(&mut cur));
        }
        cur_is_num = is_num;
        cur.push(c);
    }
    if !cur.is_empty() {
        tokens.push(cur);
    }
    let mut total = 0.0;
    let mut pending: Option<f64> = None;
    for tok in &tokens {
        if tok.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
            if pending.is_some() {
                return Err(format!("{text:?}: two numbers in a row; {OLDER_THAN_FORM}"));
            }
            let ok = tok.matches('.').count() <= 1 && !tok.ends_with('.');
            let n: f64 =
                tok.parse().ok().filter(|_| ok).ok_or_else(|| {
                    format!("{text:?}: {tok:?} is not a number; {OLDER_THAN_FORM}")
                })?;
            pending = Some(n);
        } else if matches!(tok.as_str(), "and" | "with" | "plus") && pending.is_none() {
            continue;
        } else {
            let Some(secs) = unit_seconds(tok) else {
                return Err(format!("{text:?}: unknown unit {tok:?}; {OLDER_THAN_FORM}"));
            };
            let Some(n) = pending.take() else {
                return Err(format!(
                    "{text:?}: {tok:?} needs a number before it; {OLDER_THAN_FORM}"
                ));
            };
            total += n * secs;
        }
    }
    if let Some(n) = pending {
        total += n; // a bare number is seconds, as in GitLab
    }
    if tokens.is_empty() {
        return Err(format!("{text:?}: {OLDER_THAN_FORM}"));
    }
    if !(total > 0.0 && total.is_finite()) {
        return Err(format!(
            "{text:?} is no time at all (GitLab's clean-up fails on it); {OLDER_THAN_FORM}"
        ));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_than_forms() {
        let h = 3600.0;
        let d = 24.0 * h;
        for (text, secs) in [
            ("1h", h),
            ("1d", d),
            ("2d", 2.0 * d),
            ("7d", 7.0 * d),
            ("14d", 14.0 * d),
            ("30d", 30.0 * d),
            ("90d", 90.0 * d),
            ("1month", 30.0 * d),
            ("2mo", 60.0 * d),
            ("3 months", 90.0 * d),
            ("1m", 60.0),
            ("45min", 2700.0),
            ("2w", 14.0 * d),
            ("1 week", 7.0 * d),
            ("1y", 31_557_600.0),
            ("1d 12h", 1.5 * d),
            ("1d12h", 1.5 * d),
            ("1 day and 2 hours", d + 2.0 * h),
            ("1d, 2h", d + 2.0 * h),
            ("1.5h", 5400.0),
            (".5d", 0.5 * d),
            ("7 Days", 7.0 * d),
            (" 1H ", h),
            ("90", 90.0),
        ] {
            assert_eq!(parse_older_than(text), Ok(secs), "{text}");
        }
        for bad in [
            "", " ", "0d", "0", "1:30", "day", "7 dyas", "1d-", "1..5h", "1.h", "1 2d", "-1d",
            "1d 2", "and",
        ] {
            // "1d 2" is 1 day 2 s in GitLab; we accept that (a bare number is seconds)
            if bad == "1d 2" {
                assert_eq!(parse_older_than(bad), Ok(d + 2.0));
                continue;
            }
            assert!(parse_older_than(bad).is_err(), "{bad:?}");
        }
    }
}
