//! `google.protobuf.Timestamp` to and from the epoch milliseconds the stores keep.

/// Epoch milliseconds as a protobuf timestamp.
pub fn timestamp(millis: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: millis.div_euclid(1000),
        nanos: (millis.rem_euclid(1000) * 1_000_000) as i32,
    }
}

/// Reads an optional timestamp as epoch milliseconds; a malformed one says what is wrong, for a
/// field violation.
pub fn millis_of(time: Option<&prost_types::Timestamp>) -> Result<Option<i64>, &'static str> {
    let Some(time) = time else { return Ok(None) };
    if !(0..1_000_000_000).contains(&time.nanos) {
        return Err("nanos must be 0 to 999,999,999");
    }
    time.seconds
        .checked_mul(1000)
        .and_then(|ms| ms.checked_add(i64::from(time.nanos / 1_000_000)))
        .map(Some)
        .ok_or("is out of range")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_round_trip_before_and_after_the_epoch() {
        for millis in [0, 1_795_737_600_123, -1] {
            assert_eq!(millis_of(Some(&timestamp(millis))), Ok(Some(millis)));
        }
        let bad = prost_types::Timestamp {
            seconds: 0,
            nanos: -1,
        };
        assert!(millis_of(Some(&bad)).is_err());
        assert_eq!(millis_of(None), Ok(None));
    }
}
