//! `earlyexit --list-profiles`: the profiles' rules as text, so that what a profile does is
//! read, not guessed.

use super::{End, PROFILES};

/// `earlyexit --list-profiles`: every profile's rules, as a user reads them.
pub fn list() -> String {
    let mut out = String::new();
    for profile in PROFILES {
        out.push_str(&format!("{}  ({})\n", profile.name, profile.recognises));
        out.push_str(&format!("  pattern       {}\n", profile.pattern));
        for variable in profile.environment {
            let how = if variable.append {
                " (after yours)"
            } else {
                " (unless set)"
            };
            out.push_str(&format!(
                "  sets          {}={}{how}\n",
                variable.name, variable.value
            ));
        }
        let rules = &profile.block;
        if let Some(start) = rules.start {
            out.push_str(&format!("  block starts  {start}\n"));
            if rules.start_after_within > 0 {
                out.push_str(&format!(
                    "                or at such a line up to {} lines after the match\n",
                    rules.start_after_within
                ));
            }
        }
        for end in rules.ends {
            let text = match end {
                End::BlankLine => "at a blank line".to_string(),
                End::Through(pattern) => format!("with a line matching {pattern}"),
                End::Before(pattern) => format!("before a line matching {pattern}"),
            };
            out.push_str(&format!("  block ends    {text}\n"));
        }
        for location in rules.locations {
            out.push_str(&format!("  location      {location}\n"));
        }
        if let Some(hold) = rules.hold {
            out.push_str(&format!(
                "  waits         after {} for {}, past pauses\n",
                hold.from, hold.until
            ));
        }
        out.push_str(&format!("  saves         {}\n\n", profile.saves));
    }
    out
}
