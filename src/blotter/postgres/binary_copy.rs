//! Rows in PostgreSQL's binary COPY format, as the writer sends its
//! answers: integers as big-endian words and text as its bytes, which the
//! server stores without parsing a digit (text COPY has it parse every
//! integer and decimal, on the cores the desk itself runs on).

/// What every binary COPY stream opens with: the signature, no flags, no
/// header extension.
const HEADER: &[u8; 19] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// One table's rows of a batch, reused from batch to batch.
#[derive(Default)]
pub(super) struct BinaryRows {
    bytes: Vec<u8>,
    /// The end mark is in `bytes`: no row may follow it.
    ended: bool,
}

impl BinaryRows {
    pub(super) fn clear(&mut self) {
        self.bytes.clear();
        self.ended = false;
    }

    /// Starts a row of `fields` fields (the COPY's column count).
    pub(super) fn row(&mut self, fields: i16) -> &mut Self {
        debug_assert!(!self.ended, "a row after the end mark");
        if self.bytes.is_empty() {
            self.bytes.extend_from_slice(HEADER);
        }
        self.bytes.extend_from_slice(&fields.to_be_bytes());
        self
    }

    /// A BIGINT.
    pub(super) fn int(&mut self, value: i64) -> &mut Self {
        self.bytes.extend_from_slice(&8i32.to_be_bytes());
        self.bytes.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub(super) fn null(&mut self) -> &mut Self {
        self.bytes.extend_from_slice(&(-1i32).to_be_bytes());
        self
    }

    /// A TEXT: its UTF-8 bytes as they are (nothing is escaped in this
    /// format).
    pub(super) fn text(&mut self, value: &str) -> &mut Self {
        let length = i32::try_from(value.len()).unwrap_or(i32::MAX);
        self.bytes.extend_from_slice(&length.to_be_bytes());
        self.bytes
            .extend_from_slice(&value.as_bytes()[..length as usize]);
        self
    }

    /// The stream to send, its end mark added (nothing for no rows).
    pub(super) fn finished(&mut self) -> &[u8] {
        if !self.bytes.is_empty() && !std::mem::replace(&mut self.ended, true) {
            self.bytes.extend_from_slice(&(-1i16).to_be_bytes());
        }
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_its_field_count_then_each_field_by_length_and_the_stream_ends_with_minus_one() {
        let mut rows = BinaryRows::default();
        assert_eq!(rows.finished(), b"", "no rows: nothing to send");
        rows.row(4).int(-2).null().text("é\t").null();
        let mut expected = HEADER.to_vec();
        expected.extend_from_slice(&[0, 4]);
        expected.extend_from_slice(&[0, 0, 0, 8, 255, 255, 255, 255, 255, 255, 255, 254]);
        expected.extend_from_slice(&[255, 255, 255, 255]);
        expected.extend_from_slice(&[0, 0, 0, 3, 0xc3, 0xa9, b'\t']);
        expected.extend_from_slice(&[255, 255, 255, 255]);
        expected.extend_from_slice(&[255, 255]);
        assert_eq!(rows.finished(), expected.as_slice());
        assert_eq!(rows.finished(), expected.as_slice(), "ended once");
        rows.clear();
        assert_eq!(rows.finished(), b"", "cleared: nothing left to send");
    }
}
