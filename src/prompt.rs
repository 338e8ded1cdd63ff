//! The one confirmation prompt: a question on stderr, the answer from a terminal on stdin.
//! `--yes` answers for the operator; without a terminal and without `--yes` nobody can
//! answer, which is an error rather than a silent "no".

use std::io::{BufRead, IsTerminal, Write};

use crate::error::Error;

/// Which answers count as "yes".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    /// Only the word `yes` (changes to infrastructure: `apply`, `destroy`).
    Word,
    /// `y`, `Y` or `yes` (playbook runs, drills, pauses and approvals).
    YesOrY,
}

/// Why a question could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// stdin is not a terminal and `--yes` was not given.
    #[error("{0}: needs an answer; run in a terminal or pass --yes")]
    NoTerminal(String),
    /// Reading the answer failed.
    #[error("reading the answer: {0}")]
    Read(#[from] std::io::Error),
}

/// Asks `question`; `assume_yes` answers yes without asking. Returns whether the answer was yes.
pub fn confirm(question: &str, assume_yes: bool, accept: Accept) -> Result<bool, PromptError> {
    if assume_yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(PromptError::NoTerminal(question.to_owned()));
    }
    match accept {
        Accept::Word => eprint!("{question} Only `yes` is accepted: "),
        Accept::YesOrY => eprint!("{question} [y/N] "),
    }
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(is_yes(&line, accept))
}

/// Asks before `command` changes something (`what_it_does`: "changes infrastructure", "moves
/// traffic"); a "no", or nobody to answer, is [`Error::NotConfirmed`] (exit 64).
pub fn confirm_command(
    command: &str,
    what_it_does: &str,
    question: &str,
    assume_yes: bool,
    accept: Accept,
) -> Result<(), Error> {
    match confirm(question, assume_yes, accept) {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::NotConfirmed(format!(
            "`{command}` cancelled: nothing was changed"
        ))),
        Err(PromptError::NoTerminal(_)) => Err(Error::NotConfirmed(format!(
            "`{command}` {what_it_does} and stdin is not a terminal, so it cannot ask"
        ))),
        Err(PromptError::Read(e)) => Err(Error::Runtime {
            what: "reading the answer".into(),
            reason: e.to_string(),
        }),
    }
}

fn is_yes(line: &str, accept: Accept) -> bool {
    match accept {
        Accept::Word => line.trim() == "yes",
        Accept::YesOrY => matches!(line.trim(), "y" | "Y" | "yes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infrastructure_changes_need_the_whole_word() {
        assert!(is_yes("yes\n", Accept::Word));
        assert!(!is_yes("y\n", Accept::Word));
        assert!(is_yes(" y\n", Accept::YesOrY));
        assert!(!is_yes("no\n", Accept::YesOrY));
        assert!(confirm("go?", true, Accept::Word).unwrap());
    }
}
