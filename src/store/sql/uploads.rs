//! The files uploaded to Plivo for a message (`message_uploads`).

use crate::store::db::{query, Db};
use crate::store::{StoreError, UploadedMedia};

/// Records the uploads of message `id`, in order (once per message).
pub(crate) async fn record_uploads(
    conn: &mut dyn Db,
    id: &str,
    uploads: &[UploadedMedia],
) -> Result<(), StoreError> {
    for (position, upload) in uploads.iter().enumerate() {
        let size = i64::try_from(upload.size)
            .map_err(|_| StoreError::Corrupt(format!("upload size {}", upload.size)))?;
        query(
            "INSERT INTO message_uploads \
             (message_id, position, media_id, file_name, content_type, size) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(position as i64)
        .bind(upload.media_id.as_str())
        .bind(upload.file_name.as_str())
        .bind(upload.content_type.as_str())
        .bind(size)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The uploads of message `id`, in order.
pub(crate) async fn uploads(conn: &mut dyn Db, id: &str) -> Result<Vec<UploadedMedia>, StoreError> {
    let rows = query(
        "SELECT media_id, file_name, content_type, size FROM message_uploads \
         WHERE message_id = $1 ORDER BY position",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            let size: i64 = row.try_get("size")?;
            Ok(UploadedMedia {
                media_id: row.try_get("media_id")?,
                file_name: row.try_get("file_name")?,
                content_type: row.try_get("content_type")?,
                size: u64::try_from(size)
                    .map_err(|_| StoreError::Corrupt(format!("upload size {size}")))?,
            })
        })
        .collect()
}
