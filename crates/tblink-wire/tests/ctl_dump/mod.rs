//! Hex dumps as printed in the spec's worked examples (`0010: bb 40 ...`),
//! shared by the control and XDomain golden tests.

#![allow(dead_code)]

/// Bytes of a spec hex dump. Each line's offset must equal the number of
/// bytes before it, so a line lost or doubled while copying fails loudly.
pub fn dump(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (off, rest) = line.split_once(':').expect("offset");
        assert_eq!(
            usize::from_str_radix(off, 16).unwrap(),
            out.len(),
            "offset of `{line}`"
        );
        for b in rest.split_whitespace() {
            assert_eq!(b.len(), 2, "byte `{b}` in `{line}`");
            out.push(u8::from_str_radix(b, 16).unwrap());
        }
    }
    out
}

/// Big-endian bytes of dword values (Linux tracepoint `data=[...]` lists).
pub fn be_bytes(dwords: &[u32]) -> Vec<u8> {
    dwords.iter().flat_map(|d| d.to_be_bytes()).collect()
}
