//! The local Parquet lake: `LAKE/dt=YYYY-MM-DD/part-*.parquet`, one row per invocation, with the
//! columns of `spendguard_schemas::COLUMNS` (dt is the Hive partition, never a file column).
//! Athena-safe types only: timestamp(ms, UTC), signed int64, decimal(38,12), strings, and
//! map<string,string>. Files are written atomically (temp file, fsync, rename), so an
//! interrupted run never leaves a torn file, and re-runs are idempotent by `request_id`.

use crate::idset::{IdKey, IdSet};
use anyhow::{bail, Context, Result};
use arrow_array::builder::{MapBuilder, MapFieldNames, StringBuilder};
use arrow_array::{
    Array, ArrayRef, Decimal128Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use arrow_schema::{DataType, Field, Fields, Schema, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use rust_decimal::Decimal;
use spendguard_schemas::row::{data_columns, MONEY_PRECISION, MONEY_SCALE};
use spendguard_schemas::{ColumnType, PricedRow};
use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Rows per row group. An open part file holds its current row group in memory (encoded), so this
/// bounds what a run holds per open partition; 100k rows (about 4.5 MB compressed, 18 MB as
/// Parquet counts it uncompressed) stays large enough for Athena's scans.
const ROW_GROUP_ROWS: usize = 100_000;
/// And at most this many bytes, as the writer estimates its buffered row group: rows with large
/// request metadata end their group sooner, so the bound holds whatever the row width.
const ROW_GROUP_BYTES: usize = 8 << 20;

fn map_field_names() -> MapFieldNames {
    MapFieldNames {
        entry: "key_value".into(),
        key: "key".into(),
        value: "value".into(),
    }
}

/// The Arrow type of a column type (the one place the mapping lives for Parquet).
pub fn arrow_type(t: ColumnType) -> DataType {
    match t {
        ColumnType::TimestampMsUtc => {
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
        }
        ColumnType::Utf8 => DataType::Utf8,
        ColumnType::Int64 => DataType::Int64,
        ColumnType::Money => DataType::Decimal128(MONEY_PRECISION as u8, MONEY_SCALE as i8),
        ColumnType::StringMap => {
            let names = map_field_names();
            DataType::Map(
                Arc::new(Field::new(
                    names.entry,
                    DataType::Struct(Fields::from(vec![
                        Field::new(names.key, DataType::Utf8, false),
                        Field::new(names.value, DataType::Utf8, true),
                    ])),
                    false,
                )),
                false,
            )
        }
    }
}

/// The Arrow schema of a Parquet file in the lake (every column but the partition key).
pub fn arrow_schema() -> Arc<Schema> {
    Arc::new(Schema::new(
        data_columns()
            .map(|c| Field::new(c.name, arrow_type(c.ty), c.nullable))
            .collect::<Vec<_>>(),
    ))
}

fn money(d: Decimal) -> Result<i128> {
    let mut d = d;
    d.rescale(MONEY_SCALE);
    if d.scale() != MONEY_SCALE {
        bail!("{d} does not fit decimal(38,{MONEY_SCALE})");
    }
    Ok(d.mantissa())
}

/// Builds one record batch from priced rows, in column-table order.
pub fn batch(rows: &[PricedRow<'_>]) -> Result<RecordBatch> {
    let schema = arrow_schema();
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for c in data_columns() {
        let arr: ArrayRef = match c.name {
            "event_time" => Arc::new(
                TimestampMillisecondArray::from_iter_values(rows.iter().map(|r| r.event_time))
                    .with_timezone("UTC"),
            ),
            "request_metadata" => {
                let mut b = MapBuilder::new(
                    Some(map_field_names()),
                    StringBuilder::new(),
                    StringBuilder::new(),
                );
                for r in rows {
                    match &r.request_metadata {
                        Some(m) => {
                            for (k, v) in m {
                                b.keys().append_value(k);
                                b.values().append_value(v);
                            }
                            b.append(true)?;
                        }
                        None => b.append(false)?,
                    }
                }
                Arc::new(b.finish())
            }
            name => match c.ty {
                ColumnType::Utf8 => Arc::new(StringArray::from_iter(
                    rows.iter().map(|r| str_col(r, name)),
                )),
                ColumnType::Int64 => Arc::new(Int64Array::from_iter_values(
                    rows.iter().map(|r| int_col(r, name)),
                )),
                ColumnType::Money => {
                    let v = rows
                        .iter()
                        .map(|r| money(money_col(r, name)))
                        .collect::<Result<Vec<_>>>()?;
                    Arc::new(
                        Decimal128Array::from_iter_values(v)
                            .with_precision_and_scale(MONEY_PRECISION as u8, MONEY_SCALE as i8)?,
                    )
                }
                other => bail!("column {name}: no builder for {other:?}"),
            },
        };
        cols.push(arr);
    }
    Ok(RecordBatch::try_new(schema, cols)?)
}

fn str_col<'r>(r: &'r PricedRow<'_>, name: &str) -> Option<&'r str> {
    Some(match name {
        "account_id" => &r.account_id,
        "region" => &r.region,
        "inference_region" => return r.inference_region.as_deref(),
        "request_id" => &r.request_id,
        "operation" => &r.operation,
        "model_id" => &r.model_id,
        "model" => &r.model,
        "endpoint_tier" => r.endpoint_tier.as_str(),
        "principal_arn" => &r.principal_arn,
        "principal_type" => r.principal_type.as_str(),
        "principal" => &r.principal,
        "session_name" => return r.session_name.as_deref(),
        "price_version" => &r.price_version,
        "price_status" => r.price_status.as_str(),
        "cache_ttl_source" => r.cache_ttl_source.as_str(),
        "error_code" => return r.error_code.as_deref(),
        _ => return None,
    })
}

fn int_col(r: &PricedRow<'_>, name: &str) -> i64 {
    match name {
        "input_tokens" => r.input_tokens,
        "output_tokens" => r.output_tokens,
        "cache_read_tokens" => r.cache_read_tokens,
        "cache_write_5m_tokens" => r.cache_write_5m_tokens,
        "cache_write_1h_tokens" => r.cache_write_1h_tokens,
        _ => 0,
    }
}

fn money_col(r: &PricedRow<'_>, name: &str) -> Decimal {
    match name {
        "input_cost_usd" => r.input_cost_usd,
        "output_cost_usd" => r.output_cost_usd,
        "cache_read_cost_usd" => r.cache_read_cost_usd,
        "cache_write_cost_usd" => r.cache_write_cost_usd,
        "cost_usd" => r.cost_usd,
        _ => Decimal::ZERO,
    }
}

/// `LAKE/dt=<dt>`.
pub fn partition_dir(lake: &Path, dt: &str) -> PathBuf {
    lake.join(format!("dt={dt}"))
}

/// The finished Parquet files of a partition (temp files of an interrupted run are ignored).
pub fn part_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    match fs::read_dir(dir) {
        Ok(rd) => {
            for e in rd {
                let p = e?.path();
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if name.starts_with("part-") && name.ends_with(".parquet") {
                    out.push(p);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
    }
    out.sort();
    Ok(out)
}

/// Every `request_id` already in a partition (reads that one column only).
pub fn existing_request_ids(dir: &Path) -> Result<IdSet> {
    let mut ids = IdSet::default();
    for p in part_files(dir)? {
        let f = fs::File::open(&p).with_context(|| format!("opening {}", p.display()))?;
        let b = ParquetRecordBatchReaderBuilder::try_new(f)
            .with_context(|| format!("reading {}", p.display()))?;
        let mask = ProjectionMask::columns(b.parquet_schema(), ["request_id"]);
        for batch in b.with_projection(mask).build()? {
            let batch = batch?;
            let col = batch
                .column(0)
                .as_any()
                .downcast_ref::<StringArray>()
                .context("request_id is not a string column")?;
            for id in col.iter().flatten() {
                ids.first(IdKey::of(id), ());
            }
        }
    }
    Ok(ids)
}

/// The lake's writer lock: one `run` writes a lake at a time, because the de-duplication
/// against the rows already there (read, then write the rest) is exact only then. An advisory
/// lock on `LAKE/.spendguard.lock`; the OS releases it when the process ends, however it ends.
#[derive(Debug)]
pub struct LakeLock {
    _file: fs::File,
    /// Temporary part files a killed run left, removed under the lock.
    pub stale_removed: usize,
}

/// Takes the lake's writer lock: waits for another run holding it (saying so on stderr), or
/// with `wait = false` fails at once. Under the lock, temporary files of killed runs are removed.
pub fn lock(lake: &Path, wait: bool) -> Result<LakeLock> {
    fs::create_dir_all(lake).with_context(|| format!("creating {}", lake.display()))?;
    let path = lake.join(".spendguard.lock");
    let mut file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let holder = fs::read_to_string(&path).unwrap_or_default();
            let holder = holder.trim();
            if !wait {
                bail!(
                    "{}: another run is writing this lake ({holder}); nothing done (--no-wait)",
                    lake.display()
                );
            }
            eprintln!(
                "spendguard: waiting for another run to finish writing {} ({holder})",
                lake.display()
            );
            file.lock()
                .with_context(|| format!("locking {}", path.display()))?;
        }
        Err(fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
    file.set_len(0)?;
    let _ = write!(file, "pid {}", std::process::id());
    let mut stale_removed = 0;
    for entry in fs::read_dir(lake).with_context(|| format!("reading {}", lake.display()))? {
        let dir = entry?.path();
        if !dir.is_dir()
            || !dir
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("dt="))
        {
            continue;
        }
        for f in fs::read_dir(&dir)? {
            let f = f?.path();
            if f.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".tmp-part-"))
            {
                fs::remove_file(&f).with_context(|| format!("removing {}", f.display()))?;
                stale_removed += 1;
            }
        }
    }
    Ok(LakeLock {
        _file: file,
        stale_removed,
    })
}

/// Rows handed to the Parquet writer at a time: small, so a run holds little per open partition.
const WRITE_BATCH_ROWS: usize = 4_096;

/// A partition whose writer has had no row while this many rows went elsewhere is closed: its
/// file is complete (not yet published) and its memory freed. Logs arrive roughly in time order,
/// so a run holds about one open partition, not one per day; a late row opens a further file.
const IDLE_ROWS: u64 = 50_000;

fn writer_properties() -> Result<WriterProperties> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_max_row_group_bytes(Some(ROW_GROUP_BYTES))
        .set_created_by("spendguard".into());
    // Dictionaries only for the columns that repeat (account, model, principal, status, ...):
    // request ids, times, token counts and costs are nearly unique per row, so a dictionary of
    // them costs memory and time until the writer gives up on it (and the decimal columns'
    // dictionary keeps each written batch's buffer alive until the row group ends).
    Ok(data_columns()
        .filter(|c| {
            c.name == "request_id"
                || matches!(
                    c.ty,
                    ColumnType::Int64 | ColumnType::Money | ColumnType::TimestampMsUtc
                )
        })
        .fold(props, |p, c| {
            p.set_column_dictionary_enabled(ColumnPath::from(c.name), false)
        })
        .build())
}

/// A part file being written under its temporary name.
struct PartWriter {
    part: Part,
    writer: ArrowWriter<fs::File>,
    pending: Vec<PricedRow<'static>>,
    /// The run's row count when this file last got a row.
    last_row: u64,
}

/// A complete part file, still under its temporary name until [`LakeWriter::publish`].
#[derive(Debug)]
struct Part {
    dir: PathBuf,
    tmp_path: PathBuf,
    final_path: PathBuf,
    rows: usize,
    bytes: u64,
}

impl PartWriter {
    fn create(dir: PathBuf, name: &str, props: WriterProperties) -> Result<PartWriter> {
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let final_path = dir.join(format!("part-{name}.parquet"));
        let tmp_path = dir.join(format!(".tmp-part-{name}.parquet"));
        let file = fs::File::create(&tmp_path)
            .with_context(|| format!("creating {}", tmp_path.display()))?;
        Ok(PartWriter {
            part: Part {
                dir,
                tmp_path,
                final_path,
                rows: 0,
                bytes: 0,
            },
            writer: ArrowWriter::try_new(file, arrow_schema(), Some(props))?,
            pending: Vec::with_capacity(WRITE_BATCH_ROWS),
            last_row: 0,
        })
    }

    fn push(&mut self, row: PricedRow<'static>) -> Result<()> {
        self.pending.push(row);
        self.part.rows += 1;
        if self.pending.len() >= WRITE_BATCH_ROWS {
            self.writer.write(&batch(&self.pending)?)?;
            self.pending.clear();
        }
        Ok(())
    }

    /// Writes what is left and syncs the file; it keeps its temporary name.
    fn close(mut self) -> Result<Part> {
        if !self.pending.is_empty() {
            self.writer.write(&batch(&self.pending)?)?;
        }
        let mut file = self.writer.into_inner()?;
        file.flush()?;
        file.sync_all()?;
        self.part.bytes = file.metadata()?.len();
        Ok(self.part)
    }
}

/// What [`LakeWriter::publish`] published.
#[derive(Debug, Default)]
pub struct Published {
    pub rows: usize,
    pub bytes: u64,
    pub files: Vec<PathBuf>,
}

/// Streams a run's new rows into the lake: each row goes to a part file of its `dt` partition as
/// it arrives, unless that partition holds its request id already. Memory is what the open files
/// hold (a row group at most each, and rarely more than one or two open, see [`IDLE_ROWS`]) plus
/// the request ids of the partitions touched, never the run's rows. Files are written under
/// temporary names and published together by [`LakeWriter::publish`]: a run that fails or is
/// killed publishes nothing (the next run removes its temporary files under the lake lock), and
/// one that ends publishes every row it read.
pub struct LakeWriter {
    lake: PathBuf,
    tag: String,
    props: WriterProperties,
    /// Per partition touched: the request ids already in it (read once, under the lock).
    in_lake: HashMap<String, IdSet>,
    open: HashMap<String, PartWriter>,
    closed: Vec<Part>,
    /// Files started per partition, to name the next one.
    started: HashMap<String, usize>,
    rows_seen: u64,
    idle_rows: u64,
    /// Rows not written because their partition already holds their request id.
    pub already: usize,
}

impl std::fmt::Debug for LakeWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeWriter")
            .field("lake", &self.lake)
            .field("open", &self.open.keys().collect::<Vec<_>>())
            .field("closed", &self.closed.len())
            .finish_non_exhaustive()
    }
}

impl LakeWriter {
    /// `tag` names this run's files (unique per run: time and process id).
    pub fn new(lake: &Path, tag: String) -> Result<LakeWriter> {
        Ok(LakeWriter {
            lake: lake.to_path_buf(),
            tag,
            props: writer_properties()?,
            in_lake: HashMap::new(),
            open: HashMap::new(),
            closed: Vec::new(),
            started: HashMap::new(),
            rows_seen: 0,
            idle_rows: IDLE_ROWS,
            already: 0,
        })
    }

    /// Writes `r` unless its partition holds it already; `id` is [`IdKey::of`] its request id
    /// (the caller has it from its own de-duplication).
    pub fn push(&mut self, id: IdKey, r: PricedRow<'_>) -> Result<()> {
        if !self.in_lake.contains_key(r.dt.as_str()) {
            let ids = existing_request_ids(&partition_dir(&self.lake, &r.dt))?;
            self.in_lake.insert(r.dt.clone(), ids);
        }
        if self
            .in_lake
            .get(r.dt.as_str())
            .is_some_and(|ids| ids.contains(id))
        {
            self.already += 1;
            return Ok(());
        }
        self.rows_seen += 1;
        if !self.open.contains_key(r.dt.as_str()) {
            let n = self.started.entry(r.dt.clone()).or_default();
            let name = match *n {
                0 => self.tag.clone(),
                n => format!("{}-{n}", self.tag),
            };
            *n += 1;
            let w =
                PartWriter::create(partition_dir(&self.lake, &r.dt), &name, self.props.clone())?;
            self.open.insert(r.dt.clone(), w);
        }
        if let Some(w) = self.open.get_mut(r.dt.as_str()) {
            w.last_row = self.rows_seen;
            w.push(r.into_owned())?;
        }
        if self.rows_seen.is_multiple_of(WRITE_BATCH_ROWS as u64) {
            self.close_idle()?;
        }
        Ok(())
    }

    fn close_idle(&mut self) -> Result<()> {
        let now = self.rows_seen;
        let idle: Vec<String> = self
            .open
            .iter()
            .filter(|(_, w)| now - w.last_row > self.idle_rows)
            .map(|(dt, _)| dt.clone())
            .collect();
        for dt in idle {
            if let Some(w) = self.open.remove(&dt) {
                self.closed.push(w.close()?);
            }
        }
        Ok(())
    }

    /// Closes the open files and publishes every file of the run (renames it to its final name,
    /// then syncs its directory).
    pub fn publish(mut self) -> Result<Published> {
        for (_, w) in self.open.drain() {
            self.closed.push(w.close()?);
        }
        let mut out = Published::default();
        self.closed.sort_by(|a, b| a.final_path.cmp(&b.final_path));
        for p in self.closed {
            fs::rename(&p.tmp_path, &p.final_path)
                .with_context(|| format!("publishing {}", p.final_path.display()))?;
            if let Ok(d) = fs::File::open(&p.dir) {
                let _ = d.sync_all();
            }
            out.rows += p.rows;
            out.bytes += p.bytes;
            out.files.push(p.final_path);
        }
        Ok(out)
    }
}

/// One row as `report` reads it back.
#[derive(Debug, Clone)]
pub struct LakeRow {
    pub dt: String,
    /// Milliseconds since the epoch (budget windows are local days and months).
    pub event_time: i64,
    pub principal: String,
    pub principal_arn: String,
    pub session_name: Option<String>,
    pub model: String,
    /// The model id as the log spelled it (what an unknown model is known by).
    pub model_id: String,
    pub price_status: String,
    pub cost: Decimal,
    pub input_cost: Decimal,
    pub cache_read_cost: Decimal,
    pub cache_write_cost: Decimal,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
}

fn col<'b, T: 'static>(b: &'b RecordBatch, name: &str) -> Result<&'b T> {
    b.column_by_name(name)
        .with_context(|| format!("column {name} missing"))?
        .as_any()
        .downcast_ref::<T>()
        .with_context(|| format!("column {name} has an unexpected type"))
}

fn money_of(a: &Decimal128Array, i: usize) -> Decimal {
    Decimal::from_i128_with_scale(a.value(i), MONEY_SCALE)
}

/// Reads the lake's partitions with `from <= dt <= to` (inclusive, YYYY-MM-DD strings compare as
/// dates), de-duplicated by `request_id`, handing each row to `f` as it is read (a report holds
/// its sums, never the rows).
pub fn for_each(
    lake: &Path,
    from: Option<&str>,
    to: Option<&str>,
    mut each: impl FnMut(LakeRow) -> Result<()>,
) -> Result<()> {
    let mut parts: Vec<(String, PathBuf)> = Vec::new();
    let rd = fs::read_dir(lake).with_context(|| format!("reading lake {}", lake.display()))?;
    for e in rd {
        let p = e?.path();
        let Some(dt) = p
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("dt="))
        else {
            continue;
        };
        if from.is_some_and(|f| dt < f) || to.is_some_and(|t| dt > t) {
            continue;
        }
        parts.push((dt.to_string(), p));
    }
    parts.sort();
    let mut seen = IdSet::default();
    for (dt, dir) in parts {
        for p in part_files(&dir)? {
            let f = fs::File::open(&p).with_context(|| format!("opening {}", p.display()))?;
            for b in ParquetRecordBatchReaderBuilder::try_new(f)?.build()? {
                let b = b?;
                let rid = col::<StringArray>(&b, "request_id")?;
                let principal = col::<StringArray>(&b, "principal")?;
                let parn = col::<StringArray>(&b, "principal_arn")?;
                let session = col::<StringArray>(&b, "session_name")?;
                let model = col::<StringArray>(&b, "model")?;
                let model_id = col::<StringArray>(&b, "model_id")?;
                let at = col::<TimestampMillisecondArray>(&b, "event_time")?;
                let status = col::<StringArray>(&b, "price_status")?;
                let cost = col::<Decimal128Array>(&b, "cost_usd")?;
                let ic = col::<Decimal128Array>(&b, "input_cost_usd")?;
                let crc = col::<Decimal128Array>(&b, "cache_read_cost_usd")?;
                let cwc = col::<Decimal128Array>(&b, "cache_write_cost_usd")?;
                let it = col::<Int64Array>(&b, "input_tokens")?;
                let ot = col::<Int64Array>(&b, "output_tokens")?;
                let cr = col::<Int64Array>(&b, "cache_read_tokens")?;
                let w5 = col::<Int64Array>(&b, "cache_write_5m_tokens")?;
                let w1 = col::<Int64Array>(&b, "cache_write_1h_tokens")?;
                for i in 0..b.num_rows() {
                    let id = rid.value(i);
                    if seen.first(IdKey::of(id), ()).is_some() {
                        continue;
                    }
                    // the pricer refuses such counts; a lake written by something else may not
                    let bound = spendguard_core::price::MAX_TOKENS_PER_CLASS;
                    for (name, a) in [
                        ("input_tokens", it),
                        ("output_tokens", ot),
                        ("cache_read_tokens", cr),
                        ("cache_write_5m_tokens", w5),
                        ("cache_write_1h_tokens", w1),
                    ] {
                        let v = a.value(i);
                        if !(0..=bound).contains(&v) {
                            anyhow::bail!(
                                "{}: request {id}: {name} = {v} is outside 0..={bound}: not a row spendguard wrote",
                                p.display()
                            );
                        }
                    }
                    each(LakeRow {
                        dt: dt.clone(),
                        event_time: at.value(i),
                        principal: principal.value(i).to_string(),
                        principal_arn: parn.value(i).to_string(),
                        session_name: (!session.is_null(i)).then(|| session.value(i).to_string()),
                        model: model.value(i).to_string(),
                        model_id: model_id.value(i).to_string(),
                        price_status: status.value(i).to_string(),
                        cost: money_of(cost, i),
                        input_cost: money_of(ic, i),
                        cache_read_cost: money_of(crc, i),
                        cache_write_cost: money_of(cwc, i),
                        input_tokens: it.value(i),
                        output_tokens: ot.value(i),
                        cache_read_tokens: cr.value(i),
                        cache_write_tokens: w5.value(i) + w1.value(i),
                    })?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use spendguard_schemas::{CacheTtlSource, EndpointTier, PriceStatus, PrincipalType};

    fn row(dt: &str, id: &str) -> PricedRow<'static> {
        let user = "arn:aws:iam::111122223333:user/a";
        PricedRow {
            event_time: time_ms(dt),
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
            inference_region: None,
            request_id: id.to_string().into(),
            operation: "Converse".into(),
            model_id: "amazon.nova-lite-v1:0".into(),
            model: "amazon.nova-lite-v1:0".into(),
            endpoint_tier: EndpointTier::InRegion,
            principal_arn: user.into(),
            principal_type: PrincipalType::IamUser,
            principal: user.into(),
            session_name: None,
            price_version: "v".into(),
            price_status: PriceStatus::Exact,
            cache_ttl_source: CacheTtlSource::None,
            error_code: None,
            input_tokens: 10,
            output_tokens: 2,
            cache_read_tokens: 0,
            cache_write_5m_tokens: 0,
            cache_write_1h_tokens: 0,
            input_cost_usd: Decimal::new(6, 7),
            output_cost_usd: Decimal::new(48, 8),
            cache_read_cost_usd: Decimal::ZERO,
            cache_write_cost_usd: Decimal::ZERO,
            cost_usd: Decimal::new(108, 8),
            request_metadata: None,
            dt: dt.to_string(),
        }
    }

    fn time_ms(dt: &str) -> i64 {
        spendguard_schemas::time::parse_rfc3339_ms(&format!("{dt}T12:00:00Z")).unwrap()
    }

    fn ids_in(lake: &Path, dt: &str) -> Vec<String> {
        let mut out = Vec::new();
        for p in part_files(&partition_dir(lake, dt)).unwrap() {
            let b = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(&p).unwrap()).unwrap();
            let mask = ProjectionMask::columns(b.parquet_schema(), ["request_id"]);
            for batch in b.with_projection(mask).build().unwrap() {
                let batch = batch.unwrap();
                let col = batch
                    .column(0)
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .unwrap();
                out.extend(col.iter().flatten().map(str::to_string));
            }
        }
        out.sort();
        out
    }

    #[test]
    fn an_idle_partition_is_closed_and_a_late_row_opens_another_file_published_with_the_rest() {
        let lake = std::env::temp_dir().join(format!("sg-lakewriter-{}", std::process::id()));
        let _ = fs::remove_dir_all(&lake);
        let mut w = LakeWriter::new(&lake, "t".into()).unwrap();
        w.idle_rows = 100;
        w.push(IdKey::of("a-0"), row("2026-11-20", "a-0")).unwrap();
        for i in 0..(2 * WRITE_BATCH_ROWS) {
            let id = format!("b-{i}");
            w.push(IdKey::of(&id), row("2026-11-21", &id)).unwrap();
        }
        // the first day went idle: its file is complete but not published until the run ends
        assert!(!w.open.contains_key("2026-11-20"));
        assert_eq!(w.closed.len(), 1);
        assert!(part_files(&partition_dir(&lake, "2026-11-20"))
            .unwrap()
            .is_empty());
        w.push(IdKey::of("a-1"), row("2026-11-20", "a-1")).unwrap();
        let published = w.publish().unwrap();
        assert_eq!(published.rows, 2 + 2 * WRITE_BATCH_ROWS);
        assert_eq!(published.files.len(), 3);
        assert_eq!(
            part_files(&partition_dir(&lake, "2026-11-20"))
                .unwrap()
                .len(),
            2
        );
        assert_eq!(ids_in(&lake, "2026-11-20"), ["a-0", "a-1"]);
        assert_eq!(ids_in(&lake, "2026-11-21").len(), 2 * WRITE_BATCH_ROWS);
        // no temporary file is left behind
        for dt in ["2026-11-20", "2026-11-21"] {
            for e in fs::read_dir(partition_dir(&lake, dt)).unwrap() {
                let name = e.unwrap().file_name();
                assert!(!name.to_string_lossy().starts_with(".tmp"), "{name:?}");
            }
        }
        // a second writer skips every id the lake holds, in either file of the partition
        let mut again = LakeWriter::new(&lake, "u".into()).unwrap();
        again
            .push(IdKey::of("a-1"), row("2026-11-20", "a-1"))
            .unwrap();
        again
            .push(IdKey::of("a-0"), row("2026-11-20", "a-0"))
            .unwrap();
        again
            .push(IdKey::of("a-2"), row("2026-11-20", "a-2"))
            .unwrap();
        assert_eq!(again.already, 2);
        assert_eq!(again.publish().unwrap().rows, 1);
        assert_eq!(ids_in(&lake, "2026-11-20"), ["a-0", "a-1", "a-2"]);
        fs::remove_dir_all(&lake).unwrap();
    }

    #[test]
    fn a_writer_dropped_before_publishing_publishes_nothing() {
        let lake = std::env::temp_dir().join(format!("sg-lakewriter-drop-{}", std::process::id()));
        let _ = fs::remove_dir_all(&lake);
        let mut w = LakeWriter::new(&lake, "t".into()).unwrap();
        for i in 0..10 {
            let id = format!("a-{i}");
            w.push(IdKey::of(&id), row("2026-11-20", &id)).unwrap();
        }
        drop(w);
        assert!(part_files(&partition_dir(&lake, "2026-11-20"))
            .unwrap()
            .is_empty());
        fs::remove_dir_all(&lake).unwrap();
    }
}
