//! The embedded queue's dead-letter pass (the local server runs it every few seconds; on AWS the
//! `dead-letters` function reads the dead-letter queue): every dead letter's delivery marked
//! `failed`, and the letter removed once it is.

use time::OffsetDateTime;

use crate::domain::Error;
use crate::domain::deliveries::Burying;
use crate::ports::queue::{DeadLetters, DeliveryMessage};

/// Dead letters handled at once.
const PAGE: usize = 100;

/// Drains `letters` (as of `now`). Returns how many were removed; a letter whose delivery a
/// sender holds stays for the next pass.
pub async fn drain(
    burying: &Burying<'_>,
    letters: &dyn DeadLetters<DeliveryMessage>,
    now: OffsetDateTime,
) -> Result<usize, Error> {
    let mut removed = 0;
    loop {
        let page = letters.dead_letter_page(PAGE)?;
        let (ids, messages): (Vec<i64>, Vec<DeliveryMessage>) = page.into_iter().unzip();
        let answers = burying.bury(now, &messages).await;
        let mut done = Vec::with_capacity(ids.len());
        for (id, answer) in ids.iter().zip(answers) {
            if answer? {
                done.push(*id);
            }
        }
        removed += done.len();
        let finished = ids.len() < PAGE || done.is_empty();
        letters.remove_dead_letters(done).await?;
        if finished {
            return Ok(removed);
        }
    }
}
