//! The history's binary form, in memory (the changes of a point) and on disk (the whole
//! history): LEB128 varints, names once in a table, ids as gaps, and a CRC-32 at the end so a
//! torn or damaged file is recognised rather than half-read.
//!
//! File: `GRUHIST` and a version byte; the repository names and the namespace names (count,
//! then length and UTF-8 bytes each); the points (count, then per point the timestamp as 8
//! bytes of an IEEE 754 double, little-endian, the five totals, and the length and bytes of
//! its encoded changes); the CRC-32 (little-endian) of everything before it.
//!
//! Changes of a point: for repositories, then namespaces: a count, then per item the gap to
//! the previous id (the first from 0), a byte (0: gone, 1: values follow) and the five values,
//! each as the zigzag-coded difference from the item's value at the point before (0 for an
//! item that did not exist then): a push of a few MiB costs 3 bytes where a size costs 5, so
//! the changes of a point are read by replaying the points before it.
//!
//! Pure: bytes in, bytes out; the writer is the caller's.

use std::io::{self, Write};

use super::{Changes, History, Names, Point, State, Values};

const MAGIC: &[u8; 7] = b"GRUHIST";
const VERSION: u8 = 1;

/// Why bytes are not a history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for DecodeError {}

fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A cursor over bytes being decoded.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.bytes.get(self.at).ok_or(DecodeError("truncated"))?;
            self.at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(DecodeError("a number is too long"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.at.checked_add(n).ok_or(DecodeError("truncated"))?;
        let s = self
            .bytes
            .get(self.at..end)
            .ok_or(DecodeError("truncated"))?;
        self.at = end;
        Ok(s)
    }

    fn len(&mut self) -> Result<usize, DecodeError> {
        let n =
            usize::try_from(self.varint()?).map_err(|_| DecodeError("a length is too large"))?;
        // No count can exceed the bytes left (each element takes at least one byte).
        if n > self.bytes.len() - self.at {
            return Err(DecodeError("truncated"));
        }
        Ok(n)
    }

    fn values(&mut self) -> Result<Values, DecodeError> {
        Ok(Values {
            size: self.varint()?,
            disk_size: self.varint()?,
            exclusive_size: self.varint()?,
            repositories: self.varint()?,
            tags: self.varint()?,
        })
    }
}

fn put_values(out: &mut Vec<u8>, v: &Values) {
    for n in fields(v) {
        put(out, n);
    }
}

fn fields(v: &Values) -> [u64; 5] {
    [
        v.size,
        v.disk_size,
        v.exclusive_size,
        v.repositories,
        v.tags,
    ]
}

/// `now - before` in wrapping arithmetic, zigzag-coded (small changes either way are small).
fn zigzag(now: u64, before: u64) -> u64 {
    let d = now.wrapping_sub(before) as i64;
    ((d << 1) ^ (d >> 63)) as u64
}

fn unzigzag(z: u64, before: u64) -> u64 {
    let d = ((z >> 1) as i64) ^ -((z & 1) as i64);
    before.wrapping_add(d as u64)
}

/// The values of item `id` in `state`, zero when it did not exist.
fn was(state: &State, id: usize) -> Values {
    state.get(id).copied().flatten().unwrap_or_default()
}

/// Encodes the changes of both kinds (each sorted by id) against `before`, the state at the
/// point before.
pub(crate) fn encode_changes(changes: &[Changes; 2], before: &[State; 2]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + changes.iter().map(|c| c.len() * 12).sum::<usize>());
    for (c, before) in changes.iter().zip(before) {
        put(&mut out, c.len() as u64);
        let mut prev = 0u32;
        for (id, v) in c {
            put(&mut out, u64::from(id - prev));
            prev = *id;
            match v {
                None => out.push(0),
                Some(v) => {
                    out.push(1);
                    let then = was(before, *id as usize);
                    for (now, then) in fields(v).into_iter().zip(fields(&then)) {
                        put(&mut out, zigzag(now, then));
                    }
                }
            }
        }
    }
    out.shrink_to_fit();
    out
}

/// Decodes what [`encode_changes`] wrote against the same `before`; ids must be below
/// `counts` (names known).
pub(crate) fn decode_changes(
    bytes: &[u8],
    counts: [usize; 2],
    before: &[State; 2],
) -> Result<[Changes; 2], DecodeError> {
    let mut r = Reader { bytes, at: 0 };
    let mut out: [Changes; 2] = Default::default();
    for ((c, count), before) in out.iter_mut().zip(counts).zip(before) {
        let n = r.len()?;
        c.reserve(n);
        let mut id = 0u64;
        for i in 0..n {
            let gap = r.varint()?;
            if i > 0 && gap == 0 {
                return Err(DecodeError("an item is listed twice in one point"));
            }
            id = id
                .checked_add(gap)
                .ok_or(DecodeError("an id is too large"))?;
            if id >= count as u64 {
                return Err(DecodeError("a change names an unknown item"));
            }
            let v = match r.take(1)?[0] {
                0 => None,
                1 => {
                    let then = was(before, id as usize);
                    let d = r.values()?;
                    Some(Values {
                        size: unzigzag(d.size, then.size),
                        disk_size: unzigzag(d.disk_size, then.disk_size),
                        exclusive_size: unzigzag(d.exclusive_size, then.exclusive_size),
                        repositories: unzigzag(d.repositories, then.repositories),
                        tags: unzigzag(d.tags, then.tags),
                    })
                }
                _ => return Err(DecodeError("a change is neither gone nor values")),
            };
            c.push((id as u32, v));
        }
    }
    if r.at != bytes.len() {
        return Err(DecodeError("trailing bytes in a point"));
    }
    Ok(out)
}

/// A writer that keeps the CRC-32 of what passes through.
struct Crc<W> {
    inner: W,
    hasher: crc32fast::Hasher,
}

impl<W: Write> Write for Crc<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes `h` to `w` (buffer it: many small writes).
pub fn encode(h: &History, w: impl Write) -> io::Result<()> {
    let mut w = Crc {
        inner: w,
        hasher: crc32fast::Hasher::new(),
    };
    w.write_all(MAGIC)?;
    w.write_all(&[VERSION])?;
    let mut buf = Vec::with_capacity(64);
    for names in [&h.repositories, &h.namespaces] {
        buf.clear();
        put(&mut buf, names.list.len() as u64);
        w.write_all(&buf)?;
        for n in &names.list {
            buf.clear();
            put(&mut buf, n.len() as u64);
            w.write_all(&buf)?;
            w.write_all(n.as_bytes())?;
        }
    }
    buf.clear();
    put(&mut buf, h.points.len() as u64);
    w.write_all(&buf)?;
    for p in &h.points {
        buf.clear();
        buf.extend_from_slice(&p.timestamp.to_le_bytes());
        put_values(&mut buf, &p.totals);
        put(&mut buf, p.changes.len() as u64);
        w.write_all(&buf)?;
        w.write_all(&p.changes)?;
    }
    let crc = w.hasher.clone().finalize();
    w.inner.write_all(&crc.to_le_bytes())?;
    w.flush()
}

/// Reads a history written by [`encode`]: checks the CRC, every name and every change.
pub fn decode(bytes: &[u8]) -> Result<History, DecodeError> {
    let (body, crc) = bytes
        .split_last_chunk::<4>()
        .ok_or(DecodeError("truncated"))?;
    if crc32fast::hash(body) != u32::from_le_bytes(*crc) {
        return Err(DecodeError(
            "checksum mismatch (a damaged or partly written file)",
        ));
    }
    let mut r = Reader { bytes: body, at: 0 };
    if r.take(MAGIC.len())? != MAGIC {
        return Err(DecodeError("not a history file"));
    }
    if r.take(1)?[0] != VERSION {
        return Err(DecodeError("written by another version"));
    }
    let mut tables: [Vec<Box<str>>; 2] = Default::default();
    for t in &mut tables {
        let n = r.len()?;
        t.reserve(n);
        for _ in 0..n {
            let len = r.len()?;
            let s = std::str::from_utf8(r.take(len)?)
                .map_err(|_| DecodeError("a name is not UTF-8"))?;
            t.push(s.into());
        }
    }
    let n = r.len()?;
    let mut points = Vec::with_capacity(n);
    let mut last = f64::NEG_INFINITY;
    for _ in 0..n {
        let ts = r.take(8)?;
        let timestamp = f64::from_le_bytes(ts.try_into().map_err(|_| DecodeError("truncated"))?);
        // NaN compares false: it is refused too.
        if timestamp.partial_cmp(&last) != Some(std::cmp::Ordering::Greater) {
            return Err(DecodeError("points are not in time order"));
        }
        last = timestamp;
        let totals = r.values()?;
        let len = r.len()?;
        let changes = r.take(len)?.to_vec();
        points.push(Point {
            timestamp,
            totals,
            changes,
        });
    }
    if r.at != body.len() {
        return Err(DecodeError("trailing bytes"));
    }
    let [repos, nss] = tables;
    History::from_parts(Names::from_list(repos), Names::from_list(nss), points)
}
