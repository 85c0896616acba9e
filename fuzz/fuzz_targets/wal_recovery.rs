//! WAL recovery over an arbitrary file never panics: it recovers, truncates
//! a torn tail, or reports corruption.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("wal-00000000000000000001.log"), data).expect("write");
    let _ = strata_wal::read_dir(dir.path(), |_, _| Ok(()));
    let options = strata_wal::WalOptions::new(strata_wal::WalConfig::test_config(dir.path()), |_, _: ()| {});
    if let Ok((wal, _)) = strata_wal::Wal::open(options, |_, payload| {
        let _ = strata_types::batch::decode(payload);
        Ok(())
    }) {
        let _ = wal.close();
    }
});
