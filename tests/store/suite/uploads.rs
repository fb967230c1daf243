//! The files uploaded to Plivo for a message: recorded in order, shown with it, gone with it.

use super::*;
use mms_gateway::store::UploadedMedia;

fn upload(n: u64) -> UploadedMedia {
    UploadedMedia {
        media_id: format!("801c2056-33ab-499c-80ef-58b574a462a{n}"),
        content_type: if n == 1 { "text/vcard" } else { "image/png" }.to_owned(),
        size: 1000 + n,
        file_name: format!("file-{n}.png"),
    }
}

pub async fn uploads_are_recorded_in_order(store: Store) {
    insert(&store, "up", "+14155550101", at(0)).await;
    insert(&store, "plain", "+14155550101", at(1)).await;
    let uploads: Vec<_> = (0..10).map(upload).collect();
    store.record_uploads("up", &uploads).await.expect("record");

    assert_eq!(get(&store, "up").await.uploads, Some(uploads));
    assert_eq!(
        get(&store, "plain").await.uploads,
        None,
        "no uploads: no field"
    );
    let unknown = store.record_uploads("nope", &[upload(1)]).await;
    assert!(
        unknown.is_err(),
        "uploads belong to a stored message: {unknown:?}"
    );
}
