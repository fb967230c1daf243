//! The store's one way to run SQL, over two drivers: sqlx's `Any` connection (PostgreSQL, and SQLite
//! reads) and a `rusqlite` connection (the SQLite writer, which runs on its own thread).
//!
//! The statements of module `sql` are written once against [`Db`] with a small sqlx-like builder
//! ([`query`], [`query_scalar`]): `$N` placeholders, TEXT and BIGINT values only. Rows come back as
//! [`Row`]s of owned values, whichever driver ran them.
//!
//! Why two drivers: sqlx's SQLite driver runs every statement as a round trip to the connection's own
//! thread, two context switches a statement. The writer groups many writes into one commit; with
//! `rusqlite` on the writer's own thread, the whole group runs without a single switch.

use std::marker::PhantomData;
use std::sync::Arc;

use futures::future::{self, BoxFuture};
use sqlx::any::AnyTypeInfoKind;
use sqlx::{AnyConnection, Column, Row as _, ValueRef};

use super::StoreError;

/// A bound parameter or a column's value: BIGINT or TEXT, each possibly NULL (typed, since PostgreSQL
/// wants to know what a NULL parameter is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Int(Option<i64>),
    Text(Option<String>),
}

/// What can be bound to a parameter.
pub(crate) trait Bind {
    fn into_value(self) -> Value;
}

impl Bind for Value {
    fn into_value(self) -> Value {
        self
    }
}

impl Bind for i64 {
    fn into_value(self) -> Value {
        Value::Int(Some(self))
    }
}

impl Bind for Option<i64> {
    fn into_value(self) -> Value {
        Value::Int(self)
    }
}

impl Bind for String {
    fn into_value(self) -> Value {
        Value::Text(Some(self))
    }
}

impl Bind for &str {
    fn into_value(self) -> Value {
        Value::Text(Some(self.to_owned()))
    }
}

impl Bind for &String {
    fn into_value(self) -> Value {
        Value::Text(Some(self.clone()))
    }
}

impl Bind for Option<&str> {
    fn into_value(self) -> Value {
        Value::Text(self.map(str::to_owned))
    }
}

impl Bind for Option<String> {
    fn into_value(self) -> Value {
        Value::Text(self)
    }
}

/// A connection (or transaction) the statements of module `sql` run on.
pub(crate) trait Db: Send {
    /// Runs one statement; returns how many rows it changed.
    fn execute<'a>(
        &'a mut self,
        sql: &'a str,
        params: Vec<Value>,
    ) -> BoxFuture<'a, Result<u64, StoreError>>;

    /// Runs one statement; returns every row it produced.
    fn fetch_all<'a>(
        &'a mut self,
        sql: &'a str,
        params: Vec<Value>,
    ) -> BoxFuture<'a, Result<Vec<Row>, StoreError>>;
}

/// One result row: column names (shared by the rows of one statement) and values.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

/// A Rust type a column's value converts to.
pub(crate) trait FromValue<'r>: Sized {
    fn from_value(value: &'r Value) -> Option<Self>;
}

impl<'r> FromValue<'r> for i64 {
    fn from_value(value: &'r Value) -> Option<Self> {
        match value {
            Value::Int(Some(n)) => Some(*n),
            _ => None,
        }
    }
}

impl<'r> FromValue<'r> for String {
    fn from_value(value: &'r Value) -> Option<Self> {
        <&str>::from_value(value).map(str::to_owned)
    }
}

impl<'r> FromValue<'r> for &'r str {
    fn from_value(value: &'r Value) -> Option<Self> {
        match value {
            Value::Text(Some(text)) => Some(text.as_str()),
            _ => None,
        }
    }
}

impl<'r, T: FromValue<'r>> FromValue<'r> for Option<T> {
    fn from_value(value: &'r Value) -> Option<Self> {
        match value {
            Value::Int(None) | Value::Text(None) => Some(None),
            value => T::from_value(value).map(Some),
        }
    }
}

impl Row {
    /// The value of the column named `name` as a `T`; a missing column or a value of another type is
    /// corrupt data.
    pub(crate) fn try_get<'r, T: FromValue<'r>, I: AsRef<str>>(
        &'r self,
        name: I,
    ) -> Result<T, StoreError> {
        let name = name.as_ref();
        let index = self
            .columns
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| StoreError::Corrupt(format!("no column {name:?}")))?;
        self.at(index, name)
    }

    /// The first column's value (of a `SELECT x` or `RETURNING x`).
    fn first<'r, T: FromValue<'r>>(&'r self) -> Result<T, StoreError> {
        self.at(0, "0")
    }

    fn at<'r, T: FromValue<'r>>(&'r self, index: usize, name: &str) -> Result<T, StoreError> {
        let value = self
            .values
            .get(index)
            .ok_or_else(|| StoreError::Corrupt(format!("no column {name:?}")))?;
        // The error names the kind of value, never the value: it may be a phone number or a text.
        let kind = match value {
            Value::Int(Some(_)) => "an integer",
            Value::Text(Some(_)) => "a text",
            Value::Int(None) | Value::Text(None) => "NULL",
        };
        T::from_value(value).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "column {name:?} holds {kind}, not a {}",
                std::any::type_name::<T>()
            ))
        })
    }
}

/// A statement with its parameters, to run on a [`Db`].
#[must_use]
pub(crate) struct Query<'q> {
    sql: &'q str,
    params: Vec<Value>,
}

/// Starts a statement (`$1`, `$2`… are bound in order by [`Query::bind`]).
pub(crate) fn query(sql: &str) -> Query<'_> {
    Query {
        sql,
        params: Vec::new(),
    }
}

impl<'q> Query<'q> {
    /// Binds the next parameter.
    pub(crate) fn bind(mut self, value: impl Bind) -> Self {
        self.params.push(value.into_value());
        self
    }

    /// Runs the statement; how many rows it changed.
    pub(crate) async fn execute(self, db: &mut dyn Db) -> Result<u64, StoreError> {
        db.execute(self.sql, self.params).await
    }

    /// Runs the statement; every row.
    pub(crate) async fn fetch_all(self, db: &mut dyn Db) -> Result<Vec<Row>, StoreError> {
        db.fetch_all(self.sql, self.params).await
    }

    /// Runs the statement; its first row, if any.
    pub(crate) async fn fetch_optional(self, db: &mut dyn Db) -> Result<Option<Row>, StoreError> {
        Ok(self.fetch_all(db).await?.into_iter().next())
    }

    /// Runs the statement; its first row, which must exist.
    pub(crate) async fn fetch_one(self, db: &mut dyn Db) -> Result<Row, StoreError> {
        self.fetch_optional(db)
            .await?
            .ok_or_else(|| StoreError::Corrupt("the statement returned no row".into()))
    }
}

/// A statement whose answer is the first column of its row(s).
#[must_use]
pub(crate) struct QueryScalar<'q, T> {
    query: Query<'q>,
    output: PhantomData<fn() -> T>,
}

/// Starts a statement answering one value.
pub(crate) fn query_scalar<T>(sql: &str) -> QueryScalar<'_, T> {
    QueryScalar {
        query: query(sql),
        output: PhantomData,
    }
}

impl<'q, T> QueryScalar<'q, T>
where
    T: for<'r> FromValue<'r>,
{
    /// Binds the next parameter.
    pub(crate) fn bind(self, value: impl Bind) -> Self {
        QueryScalar {
            query: self.query.bind(value),
            output: PhantomData,
        }
    }

    /// The first row's value, if there is a row.
    pub(crate) async fn fetch_optional(self, db: &mut dyn Db) -> Result<Option<T>, StoreError> {
        self.query
            .fetch_optional(db)
            .await?
            .map(|row| row.first())
            .transpose()
    }

    /// The first row's value; the row must exist.
    pub(crate) async fn fetch_one(self, db: &mut dyn Db) -> Result<T, StoreError> {
        self.query.fetch_one(db).await?.first()
    }
}

// ---- sqlx ----------------------------------------------------------------------------------------

fn bind_any<'q>(
    sql: &'q str,
    params: Vec<Value>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    params
        .into_iter()
        .fold(sqlx::query(sql), |query, value| match value {
            Value::Int(n) => query.bind(n),
            Value::Text(text) => query.bind(text),
        })
}

fn row_from_any(row: &sqlx::any::AnyRow, columns: &Arc<[String]>) -> Result<Row, StoreError> {
    let values = (0..columns.len())
        .map(|i| {
            let raw = row.try_get_raw(i)?;
            if raw.is_null() {
                return Ok(Value::Int(None));
            }
            Ok(match raw.type_info().kind() {
                AnyTypeInfoKind::Text => Value::Text(Some(row.try_get::<String, _>(i)?)),
                AnyTypeInfoKind::SmallInt | AnyTypeInfoKind::Integer | AnyTypeInfoKind::BigInt => {
                    Value::Int(Some(row.try_get::<i64, _>(i)?))
                }
                other => {
                    return Err(StoreError::Corrupt(format!(
                        "column {:?} holds a {other:?}",
                        columns[i]
                    )))
                }
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Row {
        columns: Arc::clone(columns),
        values,
    })
}

impl Db for AnyConnection {
    fn execute<'a>(
        &'a mut self,
        sql: &'a str,
        params: Vec<Value>,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move { Ok(bind_any(sql, params).execute(self).await?.rows_affected()) })
    }

    fn fetch_all<'a>(
        &'a mut self,
        sql: &'a str,
        params: Vec<Value>,
    ) -> BoxFuture<'a, Result<Vec<Row>, StoreError>> {
        Box::pin(async move {
            let rows = bind_any(sql, params).fetch_all(self).await?;
            let Some(first) = rows.first() else {
                return Ok(Vec::new());
            };
            let columns: Arc<[String]> = first
                .columns()
                .iter()
                .map(|c| c.name().to_owned())
                .collect();
            rows.iter().map(|row| row_from_any(row, &columns)).collect()
        })
    }
}

// ---- rusqlite ------------------------------------------------------------------------------------

/// Prepares (from the connection's statement cache) `sql` and binds `params` to its `$N` names.
fn prepare<'c>(
    conn: &'c rusqlite::Connection,
    sql: &str,
    params: &[Value],
) -> Result<rusqlite::CachedStatement<'c>, rusqlite::Error> {
    let mut statement = conn.prepare_cached(sql)?;
    for index in 1..=statement.parameter_count() {
        let name = statement.parameter_name(index).unwrap_or("?");
        let value = name
            .strip_prefix('$')
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| params.get(n.checked_sub(1)?))
            .ok_or_else(|| rusqlite::Error::InvalidParameterName(name.to_owned()))?;
        match value {
            Value::Int(n) => statement.raw_bind_parameter(index, n)?,
            Value::Text(text) => statement.raw_bind_parameter(index, text)?,
        }
    }
    Ok(statement)
}

fn run_sqlite(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[Value],
) -> Result<Vec<Row>, StoreError> {
    let mut statement = prepare(conn, sql, params)?;
    let columns: Arc<[String]> = statement
        .column_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut rows = statement.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let values = (0..columns.len())
            .map(|i| match row.get_ref(i)? {
                rusqlite::types::ValueRef::Null => Ok(Value::Int(None)),
                rusqlite::types::ValueRef::Integer(n) => Ok(Value::Int(Some(n))),
                rusqlite::types::ValueRef::Text(text) => Ok(Value::Text(Some(
                    String::from_utf8_lossy(text).into_owned(),
                ))),
                other => Err(StoreError::Corrupt(format!(
                    "column {:?} holds a {}",
                    columns[i],
                    other.data_type()
                ))),
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        out.push(Row {
            columns: Arc::clone(&columns),
            values,
        });
    }
    Ok(out)
}

/// Runs on the writer's own thread: every call finishes before it returns (the futures are ready).
impl Db for rusqlite::Connection {
    fn execute<'a>(
        &'a mut self,
        sql: &'a str,
        params: Vec<Value>,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        let result = run_sqlite(self, sql, &params).map(|_| self.changes());
        Box::pin(future::ready(result))
    }

    fn fetch_all<'a>(
        &'a mut self,
        sql: &'a str,
        params: Vec<Value>,
    ) -> BoxFuture<'a, Result<Vec<Row>, StoreError>> {
        Box::pin(future::ready(run_sqlite(self, sql, &params)))
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Connection;

    use super::*;

    async fn roundtrip(db: &mut dyn Db) {
        query("CREATE TABLE t (id TEXT PRIMARY KEY, n BIGINT, note TEXT)")
            .execute(db)
            .await
            .expect("create");
        let changed = query("INSERT INTO t (id, n, note) VALUES ($2, $1, $3), ($4, NULL, NULL)")
            .bind(7_i64)
            .bind("a")
            .bind(Some("x"))
            .bind("b".to_owned())
            .execute(db)
            .await
            .expect("insert");
        assert_eq!(changed, 2);
        let rows = query("SELECT id, n, note FROM t ORDER BY id")
            .fetch_all(db)
            .await
            .expect("select");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].try_get::<&str, _>("id").expect("id"), "a");
        assert_eq!(rows[0].try_get::<i64, _>("n").expect("n"), 7);
        assert_eq!(
            rows[0].try_get::<Option<String>, _>("note").expect("note"),
            Some("x".to_owned())
        );
        assert_eq!(rows[1].try_get::<Option<i64>, _>("n").expect("n"), None);
        assert_eq!(rows[1].try_get::<Option<&str>, _>("note").expect("n"), None);
        // A text column read as a number, or a missing column, is an error, not a panic, and
        // the error does not repeat the stored value.
        let mismatch = rows[0]
            .try_get::<i64, _>("id")
            .expect_err("text is not a number");
        assert!(!mismatch.to_string().contains("\"a\""), "{mismatch}");
        assert!(rows[0].try_get::<i64, _>("nope").is_err());
        let count: i64 = query_scalar("SELECT COUNT(*) FROM t WHERE n = $1")
            .bind(7_i64)
            .fetch_one(db)
            .await
            .expect("count");
        assert_eq!(count, 1);
        let none: Option<String> = query_scalar("SELECT id FROM t WHERE id = $1")
            .bind("zzz")
            .fetch_optional(db)
            .await
            .expect("optional");
        assert_eq!(none, None);
    }

    #[tokio::test]
    async fn both_drivers_agree() {
        let mut lite = rusqlite::Connection::open_in_memory().expect("rusqlite");
        roundtrip(&mut lite).await;
        sqlx::any::install_default_drivers();
        let mut any = AnyConnection::connect("sqlite::memory:")
            .await
            .expect("sqlx");
        roundtrip(&mut any).await;
    }

    #[tokio::test]
    async fn a_placeholder_without_a_value_is_an_error() {
        let mut lite = rusqlite::Connection::open_in_memory().expect("rusqlite");
        let result = query("SELECT $1, $2")
            .bind(1_i64)
            .fetch_all(&mut lite)
            .await;
        assert!(result.is_err());
    }
}
