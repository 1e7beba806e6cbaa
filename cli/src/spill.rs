//! The invocations a run counted, spilled to one file per UTC day so the run can replay them in
//! event-time order (`run --budgets`: each decision when it would have been taken) without
//! holding them: memory is one day's rows at a time. A record is 29 bytes: event ms, caller
//! index, fallback flag, and the cost as `rust_decimal`'s exact 16-byte form.

use anyhow::{Context, Result};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

const RECORD: usize = 8 + 4 + 1 + 16;
const DAY_MS: i64 = 86_400_000;

/// One spilled invocation.
#[derive(Debug, Clone, Copy)]
pub struct Spilled {
    pub at: i64,
    pub caller: u32,
    pub fallback: bool,
    pub cost: Decimal,
}

/// The spill: its directory (removed when dropped), one writer per day, and the callers.
#[derive(Debug)]
pub struct DaySpill {
    dir: PathBuf,
    days: BTreeMap<i64, BufWriter<File>>,
    callers: Vec<(String, Option<String>)>,
    index: HashMap<(String, Option<String>), u32>,
    pub rows: u64,
}

impl DaySpill {
    /// A spill in a fresh directory `base.spill-<pid>-<n>` beside `base`.
    pub fn new(base: &Path) -> Result<DaySpill> {
        let name = base
            .file_name()
            .map_or("spendguard".into(), |n| n.to_string_lossy().to_string());
        let parent = base.parent().unwrap_or(Path::new("."));
        let dir = parent.join(format!(
            ".{name}.spill-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(DaySpill {
            dir,
            days: BTreeMap::new(),
            callers: Vec::new(),
            index: HashMap::new(),
            rows: 0,
        })
    }

    /// The start of the first day spilled (UTC midnight): no row is earlier.
    pub fn first_ms(&self) -> Option<i64> {
        self.days.keys().next().map(|d| d * DAY_MS)
    }

    /// The caller behind an index.
    pub fn caller(&self, i: u32) -> Option<(&str, Option<&str>)> {
        self.callers
            .get(i as usize)
            .map(|(p, s)| (p.as_str(), s.as_deref()))
    }

    pub fn push(
        &mut self,
        at: i64,
        principal: &str,
        session: Option<&str>,
        cost: Decimal,
        fallback: bool,
    ) -> Result<()> {
        let k = (principal.to_string(), session.map(str::to_string));
        let caller = match self.index.get(&k) {
            Some(&c) => c,
            None => {
                let c = u32::try_from(self.callers.len()).context("more than 4 billion callers")?;
                self.callers.push(k.clone());
                self.index.insert(k, c);
                c
            }
        };
        let day = at.div_euclid(DAY_MS);
        let w = match self.days.get_mut(&day) {
            Some(w) => w,
            None => {
                let p = self.dir.join(format!("{day}.bin"));
                let f = File::create(&p).with_context(|| format!("creating {}", p.display()))?;
                self.days.entry(day).or_insert(BufWriter::new(f))
            }
        };
        let mut rec = [0u8; RECORD];
        rec[..8].copy_from_slice(&at.to_le_bytes());
        rec[8..12].copy_from_slice(&caller.to_le_bytes());
        rec[12] = u8::from(fallback);
        rec[13..].copy_from_slice(&cost.serialize());
        w.write_all(&rec).context("writing the spill")?;
        self.rows += 1;
        Ok(())
    }

    /// Hands each day's rows to `each`, days in order and rows sorted by time within a day (a
    /// stable sort: rows at one instant keep the order they were counted in).
    pub fn for_each_day(mut self, mut each: impl FnMut(&DaySpill, &[Spilled])) -> Result<()> {
        let days: Vec<(i64, BufWriter<File>)> =
            std::mem::take(&mut self.days).into_iter().collect();
        let mut rows = Vec::new();
        for (day, w) in days {
            w.into_inner()
                .map_err(|e| e.into_error())
                .context("flushing the spill")?;
            let p = self.dir.join(format!("{day}.bin"));
            let mut r = BufReader::new(File::open(&p).with_context(|| format!("{}", p.display()))?);
            rows.clear();
            let mut rec = [0u8; RECORD];
            loop {
                match r.read_exact(&mut rec) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(e).context("reading the spill"),
                }
                let mut at = [0u8; 8];
                at.copy_from_slice(&rec[..8]);
                let mut caller = [0u8; 4];
                caller.copy_from_slice(&rec[8..12]);
                let mut cost = [0u8; 16];
                cost.copy_from_slice(&rec[13..]);
                rows.push(Spilled {
                    at: i64::from_le_bytes(at),
                    caller: u32::from_le_bytes(caller),
                    fallback: rec[12] != 0,
                    cost: Decimal::deserialize(cost),
                });
            }
            // a day's rows are read, so its file can go now
            let _ = fs::remove_file(&p);
            rows.sort_by_key(|r| r.at);
            each(&self, &rows);
        }
        Ok(())
    }
}

impl Drop for DaySpill {
    fn drop(&mut self) {
        self.days.clear();
        let _ = fs::remove_dir_all(&self.dir);
    }
}
