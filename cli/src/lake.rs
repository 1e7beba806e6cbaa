//! The local Parquet lake: `LAKE/dt=YYYY-MM-DD/part-*.parquet`, one row per invocation, with the
//! columns of `spendguard_schemas::COLUMNS` (dt is the Hive partition, never a file column).
//! Athena-safe types only: timestamp(ms, UTC), signed int64, decimal(38,12), strings, and
//! map<string,string>. Files are written atomically (temp file, fsync, rename), so an
//! interrupted run never leaves a torn file, and re-runs are idempotent by `request_id`.

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
use rust_decimal::Decimal;
use spendguard_schemas::row::{data_columns, MONEY_PRECISION, MONEY_SCALE};
use spendguard_schemas::{ColumnType, PricedRow};
use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Row groups of at most 1M rows or 128 MB: large groups suit Athena (fewer, bigger column
/// chunks); a local run's file per partition rarely exceeds one group.
const ROW_GROUP_ROWS: usize = 1 << 20;

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
pub fn existing_request_ids(dir: &Path) -> Result<HashSet<String>> {
    let mut ids = HashSet::new();
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
            ids.extend(col.iter().flatten().map(str::to_string));
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

/// Writes rows as a new part file of the `dt` partition, atomically. Returns the file and its
/// size in bytes.
pub fn write_part(
    lake: &Path,
    dt: &str,
    rows: &[PricedRow<'_>],
    tag: &str,
) -> Result<(PathBuf, u64)> {
    let dir = partition_dir(lake, dt);
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let final_path = dir.join(format!("part-{tag}.parquet"));
    let tmp_path = dir.join(format!(".tmp-part-{tag}.parquet"));
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_max_row_group_bytes(Some(128 << 20))
        .set_created_by("spendguard".into())
        .build();
    let file =
        fs::File::create(&tmp_path).with_context(|| format!("creating {}", tmp_path.display()))?;
    let mut w = ArrowWriter::try_new(file, arrow_schema(), Some(props))?;
    for chunk in rows.chunks(65_536) {
        w.write(&batch(chunk)?)?;
    }
    let mut file = w.into_inner()?;
    file.flush()?;
    file.sync_all()?;
    let size = file.metadata()?.len();
    drop(file);
    fs::rename(&tmp_path, &final_path)
        .with_context(|| format!("publishing {}", final_path.display()))?;
    if let Ok(d) = fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok((final_path, size))
}

/// One row as `report` reads it back.
#[derive(Debug, Clone)]
pub struct LakeRow {
    pub dt: String,
    pub principal: String,
    pub principal_arn: String,
    pub session_name: Option<String>,
    pub model: String,
    pub price_status: String,
    pub cost: Decimal,
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

/// Reads the lake's partitions with `from <= dt <= to` (inclusive, YYYY-MM-DD strings compare as
/// dates), de-duplicated by `request_id`.
pub fn read(lake: &Path, from: Option<&str>, to: Option<&str>) -> Result<Vec<LakeRow>> {
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
    let mut seen = HashSet::new();
    let mut out = Vec::new();
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
                let status = col::<StringArray>(&b, "price_status")?;
                let cost = col::<Decimal128Array>(&b, "cost_usd")?;
                let it = col::<Int64Array>(&b, "input_tokens")?;
                let ot = col::<Int64Array>(&b, "output_tokens")?;
                let cr = col::<Int64Array>(&b, "cache_read_tokens")?;
                let w5 = col::<Int64Array>(&b, "cache_write_5m_tokens")?;
                let w1 = col::<Int64Array>(&b, "cache_write_1h_tokens")?;
                for i in 0..b.num_rows() {
                    let id = rid.value(i);
                    if !seen.insert(id.to_string()) {
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
                    out.push(LakeRow {
                        dt: dt.clone(),
                        principal: principal.value(i).to_string(),
                        principal_arn: parn.value(i).to_string(),
                        session_name: (!session.is_null(i)).then(|| session.value(i).to_string()),
                        model: model.value(i).to_string(),
                        price_status: status.value(i).to_string(),
                        cost: Decimal::from_i128_with_scale(cost.value(i), MONEY_SCALE),
                        input_tokens: it.value(i),
                        output_tokens: ot.value(i),
                        cache_read_tokens: cr.value(i),
                        cache_write_tokens: w5.value(i) + w1.value(i),
                    });
                }
            }
        }
    }
    Ok(out)
}
