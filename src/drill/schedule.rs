//! Scheduling drills from `drills.schedule` (5-field cron, UTC): a crontab
//! line, or a systemd timer whose `OnCalendar=` is translated from the cron
//! expression. The translation is hand-written because no crate maps cron to
//! systemd calendar events; it covers numbers, lists, ranges and `*/n` steps
//! and refuses what systemd cannot express the same way (day-of-month and
//! day-of-week both restricted means "either" in cron but "both" in systemd).

/// Why a cron expression has no systemd equivalent.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("`{expr}` cannot be a systemd timer: {why}; use the crontab line instead")]
pub struct Untranslatable {
    /// The expression.
    pub expr: String,
    /// The reason.
    pub why: String,
}

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

fn field(value: &str, width: usize, expr: &str) -> Result<String, Untranslatable> {
    let bad = |why: &str| Untranslatable {
        expr: expr.into(),
        why: why.into(),
    };
    let num = |s: &str| {
        s.parse::<u32>()
            .map(|n| format!("{n:0width$}"))
            .map_err(|_| bad(&format!("`{s}` is not a number")))
    };
    if value == "*" {
        return Ok("*".into());
    }
    if let Some(step) = value.strip_prefix("*/") {
        return Ok(format!(
            "{}/{}",
            "0".repeat(width),
            step.parse::<u32>().map_err(|_| bad("bad step"))?
        ));
    }
    value
        .split(',')
        .map(|part| match part.split_once('-') {
            Some((a, b)) => Ok(format!("{}..{}", num(a)?, num(b)?)),
            None => num(part),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(|v| v.join(","))
}

fn day_of_week(value: &str, expr: &str) -> Result<String, Untranslatable> {
    let bad = |why: String| Untranslatable {
        expr: expr.into(),
        why,
    };
    let day = |s: &str| -> Result<&str, Untranslatable> {
        let n: usize = s
            .parse()
            .map_err(|_| bad(format!("day of week `{s}` is not 0-7")))?;
        DAYS.get(n % 7)
            .copied()
            .filter(|_| n <= 7)
            .ok_or_else(|| bad(format!("day of week `{s}` is not 0-7")))
    };
    value
        .split(',')
        .map(|part| match part.split_once('-') {
            Some((a, b)) => Ok(format!("{}..{}", day(a)?, day(b)?)),
            None => day(part).map(str::to_owned),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(|v| v.join(","))
}

/// The five fields, refusing what neither systemd nor EventBridge can express as cron means it:
/// day of month and day of week both restricted ("either" in cron, "both" elsewhere).
fn fields(expr: &str) -> Result<[&str; 5], Untranslatable> {
    let bad = |why: &str| Untranslatable {
        expr: expr.into(),
        why: why.into(),
    };
    let f: Vec<&str> = expr.split_whitespace().collect();
    let [minute, hour, dom, month, dow] = f[..] else {
        return Err(bad("expected 5 fields"));
    };
    if dom != "*" && dow != "*" {
        return Err(bad("day of month and day of week are both set"));
    }
    Ok([minute, hour, dom, month, dow])
}

/// `30 3 * * 2` → `Tue *-*-* 03:30:00 UTC`.
pub fn on_calendar(expr: &str) -> Result<String, Untranslatable> {
    let [minute, hour, dom, month, dow] = fields(expr)?;
    let date = format!("*-{}-{}", field(month, 2, expr)?, field(dom, 2, expr)?);
    let time = format!("{}:{}:00", field(hour, 2, expr)?, field(minute, 2, expr)?);
    Ok(match dow {
        "*" => format!("{date} {time} UTC"),
        d => format!("{} {date} {time} UTC", day_of_week(d, expr)?),
    })
}

/// `30 3 * * 2` → `cron(30 3 ? * TUE *)`, for EventBridge Scheduler (UTC).
pub fn eventbridge(expr: &str) -> Result<String, Untranslatable> {
    let [minute, hour, dom, month, dow] = fields(expr)?;
    let (dom, dow) = if dow == "*" {
        (dom.to_owned(), "?".to_owned())
    } else {
        // EventBridge numbers days 1-7 from Sunday; names avoid the off-by-one entirely.
        (
            "?".to_owned(),
            day_of_week(dow, expr)?.replace("..", "-").to_uppercase(),
        )
    };
    Ok(format!("cron({minute} {hour} {dom} {month} {dow} *)"))
}

/// The crontab line (crontab runs in the system time zone: `CRON_TZ=UTC` keeps the schedule in UTC).
pub fn crontab_line(expr: &str, command: &str) -> String {
    format!("CRON_TZ=UTC\n{expr} {command} >> /var/log/tyk-dr-drill.log 2>&1\n")
}

/// The systemd service and timer units.
pub fn systemd_units(on_calendar: &str, command: &str) -> (String, String) {
    let service = format!(
        "[Unit]\nDescription=tyk-dr failover drill\nWants=network-online.target\nAfter=network-online.target\n\n[Service]\nType=oneshot\nExecStart={command}\n"
    );
    let timer = format!(
        "[Unit]\nDescription=tyk-dr failover drill schedule\n\n[Timer]\nOnCalendar={on_calendar}\nPersistent=false\nRandomizedDelaySec=0\n\n[Install]\nWantedBy=timers.target\n"
    );
    (service, timer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_schedules_translate() {
        assert_eq!(on_calendar("30 3 * * 2").unwrap(), "Tue *-*-* 03:30:00 UTC");
        assert_eq!(
            on_calendar("0 4 * * 1-5").unwrap(),
            "Mon..Fri *-*-* 04:00:00 UTC"
        );
        assert_eq!(on_calendar("*/15 * * * *").unwrap(), "*-*-* *:00/15:00 UTC");
        assert_eq!(
            on_calendar("0 2 1,15 * *").unwrap(),
            "*-*-01,15 02:00:00 UTC"
        );
        assert_eq!(
            on_calendar("0 0 * * 0,7").unwrap(),
            "Sun,Sun *-*-* 00:00:00 UTC"
        );
    }

    #[test]
    fn eventbridge_expressions() {
        assert_eq!(eventbridge("30 3 * * 2").unwrap(), "cron(30 3 ? * TUE *)");
        assert_eq!(
            eventbridge("0 4 * * 1-5").unwrap(),
            "cron(0 4 ? * MON-FRI *)"
        );
        assert_eq!(eventbridge("0 2 1 * *").unwrap(), "cron(0 2 1 * ? *)");
        assert!(eventbridge("0 2 1 * 1").is_err());
    }

    #[test]
    fn ambiguous_or_malformed_schedules_are_refused() {
        assert!(on_calendar("0 3 1 * 2")
            .unwrap_err()
            .why
            .contains("both set"));
        assert!(on_calendar("0 3 * *").is_err());
        assert!(on_calendar("0 3 * * 9").is_err());
    }
}
