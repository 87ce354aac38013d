//! The shared behaviour tests (tests/common) against the in-memory and the
//! SQLite backends: both must answer every query identically.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

mod memory {
    use super::common;
    use loupe_store::MemoryStore;

    behaviour_tests!(MemoryStore::new());
}

mod sqlite {
    use super::common;
    use loupe_store::{SqliteStore, Store};

    /// A store in a temp dir that is removed when the test ends.
    struct TempStore {
        store: SqliteStore,
        _dir: tempfile::TempDir,
    }

    impl common::AsStore for TempStore {
        fn as_store(&self) -> &dyn Store {
            &self.store
        }
    }

    fn fresh() -> TempStore {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("loupe.db")).unwrap();
        TempStore { store, _dir: dir }
    }

    behaviour_tests!(fresh());
}
