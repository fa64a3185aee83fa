//! `nyquist eval` end to end on the committed Fashion-MNIST subset.

use std::path::{Path, PathBuf};
use std::process::Command;

use nyquist_runtime::eval::EvalResult;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn model() -> String {
    root()
        .join("models/fmnist/resnet18r-blurafterconv.onnx")
        .display()
        .to_string()
}

fn eval_dir() -> String {
    root().join("models/fmnist/eval").display().to_string()
}

/// The `nyquist` binary, through `NYQUIST_TEST_RUNNER` (e.g. `qemu-aarch64`)
/// when set: cross-built test binaries cannot exec a foreign binary directly
/// where binfmt_misc is not set up.
fn nyquist(args: &[&str]) -> std::process::Output {
    let bin = env!("CARGO_BIN_EXE_nyquist");
    let mut c = match std::env::var("NYQUIST_TEST_RUNNER") {
        Ok(runner) if !runner.is_empty() => {
            let mut c = Command::new(runner);
            c.arg(bin);
            c
        }
        _ => Command::new(bin),
    };
    c.args(args).output().expect("run nyquist")
}

fn ok(o: &std::process::Output) -> String {
    let t = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{t}");
    t
}

const SMALL: [&str; 6] = [
    "--limit",
    "48",
    "--corruptions",
    "gaussian_noise,fog,pixelate,spatter",
    "--severities",
    "1,5",
];

#[test]
fn sharded_runs_merge_into_the_same_json() {
    let d = tempfile::tempdir().unwrap();
    let whole = d.path().join("whole.json");
    let (m, e) = (model(), eval_dir());
    let mut args = vec![
        "eval",
        "--model",
        &m,
        "--data",
        &e,
        "--json",
        whole.to_str().unwrap(),
    ];
    args.extend(SMALL);
    ok(&nyquist(&args));
    let mut shards = Vec::new();
    for k in 0..3 {
        let p = d.path().join(format!("s{k}.json"));
        let shard = format!("{k}/3");
        let mut a = vec![
            "eval",
            "--model",
            &m,
            "--data",
            &e,
            "--shard",
            &shard,
            "--json",
            p.to_str().unwrap(),
        ];
        a.extend(SMALL);
        ok(&nyquist(&a));
        shards.push(p);
    }
    let merged = d.path().join("merged.json");
    let mut a = vec!["eval", "merge", merged.to_str().unwrap()];
    a.extend(shards.iter().map(|p| p.to_str().unwrap()));
    ok(&nyquist(&a));
    assert_eq!(
        std::fs::read_to_string(&whole).unwrap(),
        std::fs::read_to_string(&merged).unwrap()
    );
    // A missing shard is an error.
    let o = nyquist(&[
        "eval",
        "merge",
        d.path().join("x.json").to_str().unwrap(),
        shards[0].to_str().unwrap(),
        shards[2].to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("shard 1/3 is missing"));
}

#[test]
fn self_reference_scores_100_and_errors_grow_with_severity() {
    let d = tempfile::tempdir().unwrap();
    let a_json = d.path().join("a.json");
    let b_json = d.path().join("b.json");
    let (m, e) = (model(), eval_dir());
    let mut args = vec![
        "eval",
        "--model",
        &m,
        "--data",
        &e,
        "--json",
        a_json.to_str().unwrap(),
    ];
    args.extend(SMALL);
    ok(&nyquist(&args));
    let svg = d.path().join("b.svg");
    let md = d.path().join("b.md");
    let mut args = vec![
        "eval",
        "--model",
        &m,
        "--data",
        &e,
        "--reference",
        a_json.to_str().unwrap(),
        "--json",
        b_json.to_str().unwrap(),
        "--svg",
        svg.to_str().unwrap(),
        "--markdown",
        md.to_str().unwrap(),
    ];
    args.extend(SMALL);
    let out = ok(&nyquist(&args));
    assert!(out.contains("mCE 100.0"), "{out}");
    let r = EvalResult::read(&b_json).unwrap();
    assert_eq!(r.mce, Some(100.0));
    assert_eq!(r.dataset.images, 48);
    let gn = &r.corruptions[&nyquist_corrupt::Corruption::GaussianNoise];
    assert!(
        gn.errors[4].unwrap() > gn.errors[0].unwrap(),
        "severity 5 hurts more than 1: {:?}",
        gn.errors
    );
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));
    assert!(std::fs::read_to_string(&md)
        .unwrap()
        .contains("| gaussian_noise |"));
}

#[test]
fn idx_layout_gives_the_same_clean_accuracy_as_the_png_folder() {
    // Write the committed PNGs as an idx pair, in label order.
    let labels: Vec<String> = std::fs::read_to_string(root().join("models/fmnist/labels.txt"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let mut px = Vec::new();
    let mut lb = Vec::new();
    for (k, l) in labels.iter().enumerate() {
        for f in nyquist_runtime::dataset::list_images(&root().join("models/fmnist/eval").join(l))
            .unwrap()
            .into_iter()
            .take(10)
        {
            px.extend(image::open(&f).unwrap().to_luma8().into_raw());
            lb.push(k as u8);
        }
    }
    let d = tempfile::tempdir().unwrap();
    let n = lb.len() as u32;
    let mut img = vec![0, 0, 8, 3];
    for v in [n, 28, 28] {
        img.extend(v.to_be_bytes());
    }
    img.extend(&px);
    let mut lab = vec![0, 0, 8, 1];
    lab.extend(n.to_be_bytes());
    lab.extend(&lb);
    std::fs::write(d.path().join("t10k-images-idx3-ubyte"), img).unwrap();
    std::fs::write(d.path().join("t10k-labels-idx1-ubyte"), lab).unwrap();
    let j = d.path().join("idx.json");
    let m = model();
    ok(&nyquist(&[
        "eval",
        "--model",
        &m,
        "--data",
        d.path().to_str().unwrap(),
        "--split",
        "t10k",
        "--clean-only",
        "--json",
        j.to_str().unwrap(),
    ]));
    let r = EvalResult::read(&j).unwrap();
    assert_eq!(r.dataset.layout, "idx:t10k");
    assert_eq!(r.counts.clean[1], 100);
    assert!(r.clean_error.unwrap() < 0.15, "{:?}", r.clean_error);
}

#[test]
fn unreadable_images_are_skipped_and_reported() {
    let d = tempfile::tempdir().unwrap();
    let class = d.path().join("bag");
    std::fs::create_dir_all(&class).unwrap();
    let src =
        nyquist_runtime::dataset::list_images(&root().join("models/fmnist/eval/bag")).unwrap();
    std::fs::copy(&src[0], class.join("a.png")).unwrap();
    std::fs::write(class.join("broken.png"), b"this is not a png").unwrap();
    let m = model();
    let o = nyquist(&[
        "eval",
        "--model",
        &m,
        "--data",
        d.path().to_str().unwrap(),
        "--clean-only",
    ]);
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("broken.png") && err.contains("cannot decode"),
        "{err}"
    );
    let o = nyquist(&["eval", "--model", &m, "--data", "/no/such/dir"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/no/such/dir"));
}

/// Class folders whose names are not the model's labels are not numbered
/// silently in sorted order: refused, unless `--sorted-classes` says so.
#[test]
fn unmatched_class_folders_are_refused_unless_sorted_order_is_asked_for() {
    let d = tempfile::tempdir().unwrap();
    // Two folders named after nothing the model knows, one image each.
    for (dir, class) in [("a_first", "bag"), ("b_second", "coat")] {
        let folder = d.path().join(dir);
        std::fs::create_dir_all(&folder).unwrap();
        let png = std::fs::read_dir(root().join("models/fmnist/eval").join(class))
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "png"))
            .unwrap();
        std::fs::copy(&png, folder.join("x.png")).unwrap();
    }
    let (m, data) = (model(), d.path().display().to_string());
    let args = ["eval", "--model", &m, "--data", &data, "--clean-only"];
    let o = nyquist(&args);
    let text = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{text}");
    assert!(
        text.contains("cannot be matched to the model's classes")
            && text.contains("--sorted-classes"),
        "{text}"
    );
    let mut args = args.to_vec();
    args.push("--sorted-classes");
    ok(&nyquist(&args));
}

/// Shift consistency: exactly 1 when the shifts are 0 (the two inputs are the
/// same image), a rate in (0, 1] otherwise, and shards add up to the whole.
#[test]
fn shift_consistency_is_exact_without_shifts_and_shards_merge() {
    let d = tempfile::tempdir().unwrap();
    let (m, e) = (model(), eval_dir());
    let run = |extra: &[&str], out: &Path| -> EvalResult {
        let mut args = vec![
            "eval",
            "--model",
            &m,
            "--data",
            &e,
            "--clean-only",
            "--consistency",
            "--limit",
            "60",
            "--json",
        ];
        args.push(out.to_str().unwrap());
        args.extend(extra);
        ok(&nyquist(&args));
        EvalResult::read(out).unwrap()
    };
    let none = run(&["--max-shift", "0"], &d.path().join("none.json"));
    assert_eq!(none.consistency, Some(1.0));
    assert_eq!(none.counts.consistent, [60, 60]);
    let whole = run(&[], &d.path().join("whole.json"));
    let c = whole.consistency.unwrap();
    assert!(c > 0.5 && c <= 1.0, "{c}");
    let shards: Vec<EvalResult> = (0..2)
        .map(|k| {
            run(
                &["--shard", &format!("{k}/2")],
                &d.path().join(format!("s{k}.json")),
            )
        })
        .collect();
    let merged = nyquist_runtime::eval::merge(&shards).unwrap();
    assert_eq!(merged.counts.consistent, whole.counts.consistent);
    assert!((merged.consistency.unwrap() - c).abs() < 1e-12);
}
