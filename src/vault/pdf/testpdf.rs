//! Generators of small (and hostile) PDFs for the tests, written with `lopdf` (a
//! dev-dependency) plus hand-written bytes where a writer would refuse to produce the file.
//! Every generator is deterministic.
//!
//! Used by the unit tests (`vault::pdf::tests`) and, through `#[path]`, by the integration tests
//! (`tests/it/pdf.rs`), which each use only some of it.
#![allow(dead_code)]

use lopdf::content::{Content, Operation};
use lopdf::{Dictionary, Document, Object, Stream, StringFormat, dictionary};
use std::io::Write;

/// One text line: x, y, font size, text.
pub struct Line<'a>(pub f32, pub f32, pub f32, pub &'a str);

fn text_ops(lines: &[Line]) -> Vec<u8> {
    let mut ops = vec![];
    for Line(x, y, size, s) in lines {
        ops.push(Operation::new("BT", vec![]));
        ops.push(Operation::new("Tf", vec!["F1".into(), (*size).into()]));
        ops.push(Operation::new("Td", vec![(*x).into(), (*y).into()]));
        ops.push(Operation::new("Tj", vec![Object::string_literal(*s)]));
        ops.push(Operation::new("ET", vec![]));
    }
    Content { operations: ops }.encode().unwrap()
}

/// Page spec: content stream bytes and extra page-dictionary entries.
pub struct PageSpec {
    pub content: Vec<u8>,
    pub extra: Dictionary,
    pub compress: bool,
}

impl PageSpec {
    pub fn text(lines: &[Line]) -> Self {
        PageSpec {
            content: text_ops(lines),
            extra: Dictionary::new(),
            compress: true,
        }
    }
}

pub struct Info<'a> {
    pub title: Option<&'a str>,
    pub author: Option<&'a str>,
    pub producer: Option<&'a str>,
    pub created: Option<&'a str>,
    pub modified: Option<&'a str>,
}

pub const DEFAULT_INFO: Info<'static> = Info {
    title: Some("A Study of Generated Documents"),
    author: Some("Ada Lovelace"),
    producer: Some("deepvault test generator"),
    created: Some("D:20240131235959+01'00'"),
    modified: Some("D:20240201120000Z"),
};

pub fn build_doc(pages: Vec<PageSpec>, info: &Info) -> Document {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let resources_id = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
    let mut kids = vec![];
    for p in pages {
        let mut s = Stream::new(dictionary! {}, p.content);
        if p.compress {
            let _ = s.compress();
        }
        let content_id = doc.add_object(s);
        let mut d =
            dictionary! { "Type" => "Page", "Parent" => pages_id, "Contents" => content_id };
        for (k, v) in p.extra.into_iter() {
            d.set(k, v);
        }
        kids.push(doc.add_object(d).into());
    }
    let n = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => kids, "Count" => n, "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut infod = Dictionary::new();
    let mut put = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            infod.set(
                k,
                Object::String(v.as_bytes().to_vec(), StringFormat::Literal),
            );
        }
    };
    put("Title", info.title);
    put("Author", info.author);
    put("Producer", info.producer);
    put("CreationDate", info.created);
    put("ModDate", info.modified);
    let info_id = doc.add_object(infod);
    doc.trailer.set("Info", info_id);
    // A file identifier: required by the standard security handler (encryption).
    let id = Object::String(b"0123456789abcdef".to_vec(), StringFormat::Hexadecimal);
    doc.trailer.set("ID", vec![id.clone(), id]);
    doc
}

pub fn save(mut doc: Document) -> Vec<u8> {
    let mut v = vec![];
    doc.save_to(&mut v).unwrap();
    v
}

/// Words unique to page k, so a test can check which page text landed on.
pub fn page_marker(k: usize) -> String {
    format!("pagemarker{k}")
}

pub fn multi_page(n: usize) -> Vec<u8> {
    let pages = (1..=n)
        .map(|k| {
            let h = format!("Chapter {k}: Observations");
            let body = format!(
                "This page carries the unique token {} and ordinary prose.",
                page_marker(k)
            );
            PageSpec::text(&[Line(72.0, 720.0, 18.0, &h), Line(72.0, 690.0, 11.0, &body)])
        })
        .collect();
    save(build_doc(pages, &DEFAULT_INFO))
}

pub const ROTATED_LINES: [&str; 3] = [
    "The rotated page begins with this sentence.",
    "Its second line follows directly below.",
    "The third line closes the rotated page.",
];

/// A landscape page: /Rotate 90 with text laid out in the unrotated user space.
pub fn rotated() -> Vec<u8> {
    let mut p = PageSpec::text(&[
        Line(72.0, 700.0, 12.0, ROTATED_LINES[0]),
        Line(72.0, 680.0, 12.0, ROTATED_LINES[1]),
        Line(72.0, 660.0, 12.0, ROTATED_LINES[2]),
    ]);
    p.extra.set("Rotate", 90);
    save(build_doc(vec![p], &DEFAULT_INFO))
}

/// Rotated text (a 90° text matrix) on an unrotated page, as scanners-with-OCR and
/// landscape tables emit it.
pub fn rotated_text_matrix() -> Vec<u8> {
    let mut ops = vec![];
    for (i, s) in ROTATED_LINES.iter().enumerate() {
        ops.push(Operation::new("BT", vec![]));
        ops.push(Operation::new("Tf", vec!["F1".into(), 12.into()]));
        // [0 1 -1 0 x y]: glyphs run upwards.
        let x = 100.0 + 20.0 * i as f32;
        ops.push(Operation::new(
            "Tm",
            vec![
                0.into(),
                1.into(),
                (-1).into(),
                0.into(),
                x.into(),
                100.into(),
            ],
        ));
        ops.push(Operation::new("Tj", vec![Object::string_literal(*s)]));
        ops.push(Operation::new("ET", vec![]));
    }
    let p = PageSpec {
        content: Content { operations: ops }.encode().unwrap(),
        extra: Dictionary::new(),
        compress: true,
    };
    save(build_doc(vec![p], &DEFAULT_INFO))
}

pub const LEFT_COLUMN: [&str; 4] = [
    "Left column opens here",
    "and continues with a",
    "second thought about",
    "ancient manuscripts.",
];
pub const RIGHT_COLUMN: [&str; 4] = [
    "Right column starts",
    "with modern printing",
    "presses and movable",
    "metal type.",
];

/// Two columns. `interleaved`: the content stream draws row by row (left line 1,
/// right line 1, ...), so stream order differs from reading order; otherwise the
/// left column is drawn first (what LaTeX does).
pub fn two_column(interleaved: bool) -> Vec<u8> {
    let mut lines = vec![];
    for i in 0..4 {
        let y = 700.0 - 14.0 * i as f32;
        lines.push((0, i, Line(72.0, y, 11.0, LEFT_COLUMN[i])));
        lines.push((1, i, Line(330.0, y, 11.0, RIGHT_COLUMN[i])));
    }
    if !interleaved {
        lines.sort_by_key(|(c, i, _)| (*c, *i));
    }
    let lines: Vec<Line> = lines.into_iter().map(|(_, _, l)| l).collect();
    let mut title = vec![Line(72.0, 740.0, 16.0, "Two Column Layout Sample")];
    title.extend(lines);
    save(build_doc(vec![PageSpec::text(&title)], &DEFAULT_INFO))
}

/// Pages with no text: vector drawing + a grey image XObject (a "scan").
pub fn no_text(pages: usize) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let (w, h) = (64u32, 64u32);
    let pixels: Vec<u8> = (0..w * h).map(|i| (i % 251) as u8).collect();
    let mut img = Stream::new(
        dictionary! { "Type" => "XObject", "Subtype" => "Image", "Width" => w as i64, "Height" => h as i64,
        "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8 },
        pixels,
    );
    let _ = img.compress();
    let img_id = doc.add_object(img);
    let mut kids = vec![];
    for _ in 0..pages {
        let c = b"q 500 0 0 700 50 50 cm /Im1 Do Q 0 0 1 rg 10 10 100 100 re f".to_vec();
        let cid = doc.add_object(Stream::new(dictionary! {}, c));
        let res = dictionary! { "XObject" => dictionary! { "Im1" => img_id } };
        kids.push(doc.add_object(dictionary! { "Type" => "Page", "Parent" => pages_id, "Contents" => cid, "Resources" => res }).into());
    }
    let n = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(
            dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => n,
            "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()] },
        ),
    );
    let cat = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", cat);
    let info = doc.add_object(
        dictionary! { "Producer" => Object::string_literal("Scanner 3000"),
        "Title" => Object::string_literal("scan0001.tif") },
    );
    doc.trailer.set("Info", info);
    save(doc)
}

/// Standard security handler, AES-128 (V4). `user_password` empty = opens without a
/// password (owner-restricted), which most readers treat as readable.
pub fn encrypted(user_password: &str) -> Vec<u8> {
    use lopdf::encryption::crypt_filters::{Aes128CryptFilter, CryptFilter};
    use lopdf::{EncryptionState, EncryptionVersion, Permissions};
    use std::collections::BTreeMap;
    use std::sync::Arc;
    let bytes = multi_page(2);
    let mut doc = Document::load_mem(&bytes).unwrap();
    let cf: Arc<dyn CryptFilter> = Arc::new(Aes128CryptFilter);
    let version = EncryptionVersion::V4 {
        document: &doc,
        encrypt_metadata: true,
        crypt_filters: BTreeMap::from([(b"StdCF".to_vec(), cf)]),
        stream_filter: b"StdCF".to_vec(),
        string_filter: b"StdCF".to_vec(),
        owner_password: "owner-secret",
        user_password,
        permissions: Permissions::PRINTABLE,
    };
    let state = EncryptionState::try_from(version).unwrap();
    doc.encrypt(&state).unwrap();
    save(doc)
}

/// A valid file cut at `keep` (0..1) of its length: no xref table, no trailer.
pub fn truncated(keep: f64) -> Vec<u8> {
    let b = multi_page(5);
    let n = (b.len() as f64 * keep) as usize;
    b[..n].to_vec()
}

/// Hand-written PDF around one content stream (already encoded) with the given
/// stream-dictionary entries. Produces a correct xref table.
pub fn raw_pdf_with_content(
    stream_dict: &str,
    data: &[u8],
    pages_kids_override: Option<&str>,
) -> Vec<u8> {
    let mut out: Vec<u8> = b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offs = vec![];
    let kids = pages_kids_override.unwrap_or("[3 0 R]");
    let objs: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        format!("<< /Type /Pages /Kids {kids} /Count 1 /MediaBox [0 0 612 792] >>").into_bytes(),
        b"<< /Type /Page /Parent 2 0 R /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_vec(),
        {
            let mut s =
                format!("<< {stream_dict} /Length {} >>\nstream\n", data.len()).into_bytes();
            s.extend_from_slice(data);
            s.extend_from_slice(b"\nendstream");
            s
        },
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
    ];
    for (i, o) in objs.iter().enumerate() {
        offs.push(out.len());
        writeln!(out, "{} 0 obj", i + 1).unwrap();
        out.extend_from_slice(o);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    writeln!(out, "xref\n0 {}\n0000000000 65535 f ", objs.len() + 1).unwrap();
    for o in offs {
        writeln!(out, "{o:010} 00000 n ").unwrap();
    }
    writeln!(
        out,
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF",
        objs.len() + 1
    )
    .unwrap();
    out
}

/// Zip-bomb-like: one FlateDecode content stream that inflates to `inflated_mb` MB.
/// `ops`: the inflated bytes are text-showing operators (every byte becomes parser
/// work and memory) instead of whitespace.
pub fn flate_bomb(inflated_mb: usize, ops: bool) -> Vec<u8> {
    use flate2::{Compression, write::ZlibEncoder};
    let unit: Vec<u8> = if ops {
        b"BT /F1 12 Tf 72 700 Td (bomb) Tj ET\n".repeat(1 << 15)
    } else {
        vec![b' '; 1 << 20]
    };
    let total = inflated_mb << 20;
    let mut enc = ZlibEncoder::new(Vec::new(), Compression::best());
    let mut written = 0;
    while written < total {
        let k = unit.len().min(total - written);
        enc.write_all(&unit[..k]).unwrap();
        written += k;
    }
    let z = enc.finish().unwrap();
    raw_pdf_with_content("/Filter /FlateDecode", &z, None)
}

/// `depth` nested arrays inside the content stream and in an object: recursion bomb.
pub fn deep_nesting(depth: usize) -> Vec<u8> {
    let mut c = b"BT /F1 12 Tf 72 700 Td (before) Tj ET\n".to_vec();
    c.extend(std::iter::repeat_n(b'[', depth));
    c.extend(std::iter::repeat_n(b']', depth));
    c.extend_from_slice(b" TJ\nBT /F1 12 Tf 72 680 Td (after) Tj ET\n");
    raw_pdf_with_content("", &c, None)
}

/// A page tree whose /Kids points back at the /Pages node itself.
pub fn cyclic_page_tree() -> Vec<u8> {
    let c = b"BT /F1 12 Tf 72 700 Td (cycle) Tj ET".to_vec();
    raw_pdf_with_content("", &c, Some("[3 0 R 2 0 R]"))
}

/// Not a PDF at all.
pub fn garbage() -> Vec<u8> {
    (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect()
}
