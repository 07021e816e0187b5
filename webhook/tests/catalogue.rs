//! The documentation derived from the annotation catalogue: the README's table, and the injector
//! flags it names as defaults.

use clap::CommandFactory;
use ferrovault_webhook::args::Cli;
use ferrovault_webhook::inject::catalogue::{self, ALL, DefaultValue};

const BEGIN: &str = "<!-- BEGIN annotation table (generated) -->\n";
const END: &str = "<!-- END annotation table -->";

#[test]
fn readme_annotation_table_is_the_catalogue() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = readme
        .find(BEGIN)
        .expect("README.md: the BEGIN annotation table marker")
        + BEGIN.len();
    let end = start
        + readme[start..]
            .find(END)
            .expect("README.md: the END annotation table marker");
    let table = catalogue::markdown();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, format!("{}{table}{}", &readme[..start], &readme[end..])).unwrap();
        return;
    }
    assert!(
        readme[start..end] == table,
        "README.md's annotation table differs from webhook/src/inject/catalogue/entries.rs: run \
         `UPDATE_GOLDEN=1 cargo test -p ferrovault-webhook --test catalogue` and review the diff"
    );
}

#[test]
fn flags_named_as_defaults_exist() {
    let cli = Cli::command();
    for sub in ["serve", "inject"] {
        let command = cli.find_subcommand(sub).unwrap();
        for e in ALL {
            if let DefaultValue::Injector { flag: Some(flag), .. } = e.default {
                let long = flag.strip_prefix("--").unwrap();
                assert!(
                    command.get_arguments().any(|a| a.get_long() == Some(long)),
                    "{}: `{sub}` has no flag {flag}",
                    e.name
                );
            }
        }
    }
}
