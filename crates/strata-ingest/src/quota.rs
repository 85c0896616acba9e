//! Token buckets for per-tenant ingest quotas. Time is passed in.

/// A token bucket refilled at `rate` tokens per second, holding at most one
/// second's worth. A request may take the bucket into debt (so a single
/// request larger than the rate still passes when the bucket is full); while
/// the bucket is in debt every request is refused.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    tokens: f64,
    last_secs: f64,
}

impl TokenBucket {
    /// A full bucket of `rate` tokens per second, as of `now_secs`.
    pub fn new(rate: u64, now_secs: f64) -> TokenBucket {
        let rate = rate as f64;
        TokenBucket {
            rate,
            tokens: rate,
            last_secs: now_secs,
        }
    }

    /// The rate in tokens per second.
    pub fn rate(&self) -> u64 {
        self.rate as u64
    }

    fn refill(&mut self, now_secs: f64) {
        let elapsed = (now_secs - self.last_secs).max(0.0);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        self.last_secs = now_secs;
    }

    /// Takes `n` tokens, or returns the seconds until a request could pass.
    pub fn try_take(&mut self, n: u64, now_secs: f64) -> Result<(), f64> {
        self.refill(now_secs);
        if self.tokens <= 0.0 {
            return Err(self.reset_secs());
        }
        self.tokens -= n as f64;
        Ok(())
    }

    /// Gives back `n` tokens (a request that passed this bucket was refused by another).
    pub fn give_back(&mut self, n: u64) {
        self.tokens = (self.tokens + n as f64).min(self.rate);
    }

    /// Tokens left now (0 when in debt).
    pub fn remaining(&self) -> u64 {
        self.tokens.max(0.0) as u64
    }

    /// Seconds until the bucket is out of debt.
    pub fn reset_secs(&self) -> f64 {
        if self.tokens > 0.0 || self.rate <= 0.0 {
            0.0
        } else {
            (-self.tokens / self.rate).max(0.001)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_in_debt_and_refills() {
        let mut bucket = TokenBucket::new(100, 0.0);
        assert!(
            bucket.try_take(150, 0.0).is_ok(),
            "a full bucket lets one big request through"
        );
        let wait = bucket.try_take(1, 0.0).unwrap_err();
        assert!((wait - 0.5).abs() < 1e-9);
        assert!(bucket.try_take(1, 0.4).is_err());
        assert!(bucket.try_take(1, 0.51).is_ok());
        assert_eq!(bucket.rate(), 100);
    }

    #[test]
    fn never_holds_more_than_one_second() {
        let mut bucket = TokenBucket::new(10, 0.0);
        bucket.try_take(5, 0.0).unwrap();
        bucket.try_take(0, 1000.0).unwrap();
        assert_eq!(bucket.remaining(), 10);
        bucket.give_back(100);
        assert_eq!(bucket.remaining(), 10);
    }
}
