//! The RDS MySQL source (spec §1): the original's three tables, `pinterest_data`, `geolocation_data`
//! and `user_data`, read a post at a time by id (one row of each), created and filled by
//! `pinpipe seed-db`. Column types are read as the original's database may hold them: integers of
//! any width, `FLOAT` or `DOUBLE` coordinates (a `FLOAT` comes back as the digits MySQL prints, as
//! the original's driver read it), `DATETIME` or text datetimes.

use std::collections::HashMap;
use std::str::FromStr;

use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::{Column, MySql, QueryBuilder, Row, TypeInfo};

use super::{Post, SourceGeo, SourcePin, SourceUser};
use crate::config::AwsConfig;
use crate::{Error, Result};

/// The source tables, by their names in the original database.
pub const PIN_TABLE: &str = "pinterest_data";
pub const GEO_TABLE: &str = "geolocation_data";
pub const USER_TABLE: &str = "user_data";

/// The source schema (spec §1), as `pinpipe seed-db` creates it.
const CREATE_TABLES: [&str; 3] = [
    "CREATE TABLE IF NOT EXISTS pinterest_data (
        `index` INT NOT NULL PRIMARY KEY,
        unique_id VARCHAR(36) NOT NULL,
        title TEXT NOT NULL,
        description TEXT NOT NULL,
        poster_name TEXT NOT NULL,
        follower_count VARCHAR(32) NOT NULL,
        tag_list TEXT NOT NULL,
        is_image_or_video VARCHAR(64) NOT NULL,
        image_src TEXT NOT NULL,
        downloaded INT NOT NULL,
        save_location TEXT NOT NULL,
        category VARCHAR(64) NOT NULL
    ) CHARACTER SET utf8mb4",
    "CREATE TABLE IF NOT EXISTS geolocation_data (
        ind INT NOT NULL PRIMARY KEY,
        `timestamp` DATETIME NOT NULL,
        latitude DOUBLE NOT NULL,
        longitude DOUBLE NOT NULL,
        country TEXT NOT NULL
    ) CHARACTER SET utf8mb4",
    "CREATE TABLE IF NOT EXISTS user_data (
        ind INT NOT NULL PRIMARY KEY,
        first_name TEXT NOT NULL,
        last_name TEXT NOT NULL,
        age INT NOT NULL,
        date_joined DATETIME NOT NULL
    ) CHARACTER SET utf8mb4",
];

/// Rows per `INSERT` and ids per `SELECT … IN (…)`.
const CHUNK: usize = 500;

/// A connection pool to the source database.
#[derive(Clone, Debug)]
pub struct MysqlSource {
    pool: MySqlPool,
}

/// An RDS secret (what RDS and Secrets Manager's RDS templates store); RDS-managed master secrets
/// hold only the user name and password, the rest then comes from the URL.
#[derive(serde::Deserialize)]
struct RdsSecret {
    username: Option<String>,
    password: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    dbname: Option<String>,
}

impl MysqlSource {
    /// Connects to `url` (`mysql://user:password@host:3306/database`).
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(options(url)?).await
    }

    /// Connects to `url` with the credentials (and host, port and database, when it holds them) of
    /// the RDS secret `secret_id` in Secrets Manager.
    pub async fn connect_secret(url: &str, secret_id: &str, aws: &AwsConfig) -> Result<Self> {
        let text = crate::aws::secret_string(aws, secret_id).await?;
        let secret: RdsSecret = serde_json::from_str(&text).map_err(|e| {
            Error::config(format!(
                "secret {secret_id:?} is not an RDS secret (username, password, host, …): {e}"
            ))
        })?;
        Self::connect_with(with_secret(options(url)?, secret)).await
    }

    async fn connect_with(options: MySqlConnectOptions) -> Result<Self> {
        let pool = MySqlPoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        Ok(MysqlSource { pool })
    }

    /// Creates the three source tables when they do not exist.
    pub async fn create_tables(&self) -> Result<()> {
        for statement in CREATE_TABLES {
            sqlx::query(statement).execute(&self.pool).await?;
        }
        Ok(())
    }

    /// Inserts the posts (a row in each table, one transaction per 500 posts); a post whose id is
    /// already there is left as it is. Returns how many posts were new.
    pub async fn insert(&self, posts: &[Post]) -> Result<u64> {
        let mut inserted = 0;
        for chunk in posts.chunks(CHUNK) {
            let mut tx = self.pool.begin().await?;
            let mut pins = QueryBuilder::<MySql>::new(
                "INSERT IGNORE INTO pinterest_data (`index`, unique_id, title, description, \
                 poster_name, follower_count, tag_list, is_image_or_video, image_src, downloaded, \
                 save_location, category) ",
            );
            pins.push_values(chunk, |mut b, post| {
                let p = &post.pin;
                b.push_bind(p.index)
                    .push_bind(&p.unique_id)
                    .push_bind(&p.title)
                    .push_bind(&p.description)
                    .push_bind(&p.poster_name)
                    .push_bind(&p.follower_count)
                    .push_bind(&p.tag_list)
                    .push_bind(&p.is_image_or_video)
                    .push_bind(&p.image_src)
                    .push_bind(p.downloaded)
                    .push_bind(&p.save_location)
                    .push_bind(&p.category);
            });
            inserted += pins.build().execute(&mut *tx).await?.rows_affected();
            let mut geos = QueryBuilder::<MySql>::new(
                "INSERT IGNORE INTO geolocation_data (ind, `timestamp`, latitude, longitude, country) ",
            );
            geos.push_values(chunk, |mut b, post| {
                let g = &post.geo;
                b.push_bind(g.ind)
                    .push_bind(&g.timestamp)
                    .push_bind(g.latitude)
                    .push_bind(g.longitude)
                    .push_bind(&g.country);
            });
            geos.build().execute(&mut *tx).await?;
            let mut users = QueryBuilder::<MySql>::new(
                "INSERT IGNORE INTO user_data (ind, first_name, last_name, age, date_joined) ",
            );
            users.push_values(chunk, |mut b, post| {
                let u = &post.user;
                b.push_bind(u.ind)
                    .push_bind(&u.first_name)
                    .push_bind(&u.last_name)
                    .push_bind(u.age)
                    .push_bind(&u.date_joined);
            });
            users.build().execute(&mut *tx).await?;
            tx.commit().await?;
        }
        Ok(inserted)
    }

    /// Every post id in `pinterest_data`, ascending.
    pub async fn ids(&self) -> Result<Vec<i64>> {
        let rows = sqlx::query("SELECT `index` FROM pinterest_data ORDER BY `index`")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| int(r, "index")).collect()
    }

    /// The posts with these ids, in this order (an id may repeat); an id without a readable row in
    /// each of the three tables (a `NULL` number, say) is left out, with a warning.
    pub async fn posts(&self, ids: &[i64]) -> Result<Vec<Post>> {
        let mut posts = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let pins = self.rows(PIN_TABLE, "index", chunk, pin).await?;
            let geos = self.rows(GEO_TABLE, "ind", chunk, geo).await?;
            let users = self.rows(USER_TABLE, "ind", chunk, user).await?;
            for id in chunk {
                if let (Some(pin), Some(geo), Some(user)) =
                    (pins.get(id), geos.get(id), users.get(id))
                {
                    posts.push(Post {
                        pin: pin.clone(),
                        geo: geo.clone(),
                        user: user.clone(),
                    });
                } else {
                    tracing::warn!(ind = id, "post is missing from a source table; skipped");
                }
            }
        }
        Ok(posts)
    }

    async fn rows<T>(
        &self,
        table: &str,
        id: &str,
        ids: &[i64],
        read: fn(&MySqlRow) -> Result<T>,
    ) -> Result<HashMap<i64, T>> {
        let mut query =
            QueryBuilder::<MySql>::new(format!("SELECT * FROM {table} WHERE `{id}` IN ("));
        let mut list = query.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        query.push(")");
        let rows = query.build().fetch_all(&self.pool).await?;
        let mut out = HashMap::with_capacity(rows.len());
        for row in &rows {
            match int(row, id).and_then(|ind| Ok((ind, read(row)?))) {
                Ok((ind, value)) => {
                    out.insert(ind, value);
                }
                // one unreadable row is one post the emulator cannot send, not the end of the run
                Err(e) => tracing::warn!(table, error = %e, "source row skipped"),
            }
        }
        Ok(out)
    }
}

fn options(url: &str) -> Result<MySqlConnectOptions> {
    MySqlConnectOptions::from_str(url).map_err(|e| {
        Error::config(format!(
            "source database URL: {e} (expected mysql://user:password@host:port/database)"
        ))
    })
}

fn with_secret(mut options: MySqlConnectOptions, secret: RdsSecret) -> MySqlConnectOptions {
    if let Some(v) = secret.username {
        options = options.username(&v);
    }
    if let Some(v) = secret.password {
        options = options.password(&v);
    }
    if let Some(v) = secret.host {
        options = options.host(&v);
    }
    if let Some(v) = secret.port {
        options = options.port(v);
    }
    if let Some(v) = secret.dbname {
        options = options.database(&v);
    }
    options
}

/// Column `what` (its name, and the value read where there is one) is not what it should be:
/// `e` says why, kept as the source.
fn column_error(what: impl std::fmt::Display, e: impl Into<crate::BoxError>) -> Error {
    Error::source_row_from(format!("column {what}"), e)
}

/// An integer column of any width, or an integer in text.
fn int(row: &MySqlRow, column: &str) -> Result<i64> {
    row.try_get::<i64, _>(column).or_else(|_| {
        let text: String = row.try_get(column).map_err(|e| column_error(column, e))?;
        text.trim()
            .parse()
            .map_err(|e| column_error(format_args!("{column} {text:?}"), e))
    })
}

/// A `DOUBLE`, a `FLOAT` (as the shortest digits that give it back: what MySQL prints for it), or
/// a number in text.
fn float(row: &MySqlRow, column: &str) -> Result<f64> {
    let single = row
        .try_column(column)
        .is_ok_and(|c| c.type_info().name() == "FLOAT");
    if single {
        let v: f32 = row.try_get(column).map_err(|e| column_error(column, e))?;
        return v
            .to_string()
            .parse()
            .map_err(|e| column_error(format_args!("{column} {v}"), e));
    }
    if let Ok(v) = row.try_get::<f64, _>(column) {
        return Ok(v);
    }
    let text: String = row.try_get(column).map_err(|e| column_error(column, e))?;
    text.trim()
        .parse()
        .map_err(|e| column_error(format_args!("{column} {text:?}"), e))
}

/// Text (a binary collation's too); `NULL` reads as empty (the cleaner's "missing").
fn text(row: &MySqlRow, column: &str) -> Result<String> {
    match row.try_get::<Option<String>, _>(column) {
        Ok(v) => Ok(v.unwrap_or_default()),
        Err(e) => match row.try_get::<Option<Vec<u8>>, _>(column) {
            Ok(bytes) => String::from_utf8(bytes.unwrap_or_default())
                .map_err(|_| column_error(column, "not UTF-8 text")),
            Err(_) => Err(column_error(column, e)),
        },
    }
}

/// A `DATETIME`/`TIMESTAMP` as `2020-08-28 03:52:47` (a fraction only when there is one), or text.
fn datetime(row: &MySqlRow, column: &str) -> Result<String> {
    let format = |t: chrono::NaiveDateTime| t.format("%Y-%m-%d %H:%M:%S%.f").to_string();
    if let Ok(t) = row.try_get::<chrono::NaiveDateTime, _>(column) {
        return Ok(format(t));
    }
    if let Ok(t) = row.try_get::<chrono::DateTime<chrono::Utc>, _>(column) {
        return Ok(format(t.naive_utc()));
    }
    text(row, column)
}

fn pin(row: &MySqlRow) -> Result<SourcePin> {
    Ok(SourcePin {
        index: int(row, "index")?,
        unique_id: text(row, "unique_id")?,
        title: text(row, "title")?,
        description: text(row, "description")?,
        poster_name: text(row, "poster_name")?,
        follower_count: text(row, "follower_count")?,
        tag_list: text(row, "tag_list")?,
        is_image_or_video: text(row, "is_image_or_video")?,
        image_src: text(row, "image_src")?,
        downloaded: int(row, "downloaded")?,
        save_location: text(row, "save_location")?,
        category: text(row, "category")?,
    })
}

fn geo(row: &MySqlRow) -> Result<SourceGeo> {
    Ok(SourceGeo {
        ind: int(row, "ind")?,
        timestamp: datetime(row, "timestamp")?,
        latitude: float(row, "latitude")?,
        longitude: float(row, "longitude")?,
        country: text(row, "country")?,
    })
}

fn user(row: &MySqlRow) -> Result<SourceUser> {
    Ok(SourceUser {
        ind: int(row, "ind")?,
        first_name: text(row, "first_name")?,
        last_name: text(row, "last_name")?,
        age: int(row, "age")?,
        date_joined: datetime(row, "date_joined")?,
    })
}
