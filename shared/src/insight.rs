//! The nine insights of spec §5 as one list: each one's name (its table is
//! `tables/analytics/<name>`) beside its SQL (`shared/sql/insights/`), in the order they run (a
//! query may read the ones before it), and the two joins they start from. **Pure**: text only.

/// One query of the daily run: a name SQL sees (and, for an insight, its table's) and its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Insight {
    pub name: &'static str,
    pub sql: &'static str,
}

macro_rules! insight {
    ($name:literal) => {
        Insight {
            name: $name,
            sql: include_str!(concat!("../sql/insights/", $name, ".sql")),
        }
    };
}

/// The joins every insight starts from, materialised once per run before the insights.
pub const VIEWS: [Insight; 2] = [
    Insight {
        name: "pin_geo",
        sql: include_str!("../sql/pin_geo.sql"),
    },
    Insight {
        name: "pin_user",
        sql: include_str!("../sql/pin_user.sql"),
    },
];

/// The insight tables of spec §5, in the order they are computed.
pub const INSIGHTS: [Insight; 9] = [
    insight!("popular_category_by_country"),
    insight!("posts_per_category_by_year"),
    insight!("top_user_by_country"),
    insight!("top_user_overall"),
    insight!("popular_category_by_age_group"),
    insight!("median_followers_by_age_group"),
    insight!("users_joined_by_year"),
    insight!("median_followers_by_join_year"),
    insight!("median_followers_by_age_group_and_join_year"),
];

/// The insight of that name.
pub fn by_name(name: &str) -> Option<Insight> {
    INSIGHTS.into_iter().find(|i| i.name == name)
}

/// The insight as one self-contained query for Athena (engine v3, Trino): every view and earlier
/// insight it reads, directly or through another, as a `WITH` clause before its own text; the batch
/// tables under their Glue names (`batch_pin`, …). The SQL files are written in the subset of SQL
/// that DataFusion and Trino both run (no `date_part`, no `percentile_cont`): the same text serves
/// both engines (`tests/golden/trino.py` checks it with a Trino parser and DuckDB).
pub fn athena_sql(insight: Insight) -> String {
    let earlier: Vec<Insight> = VIEWS
        .into_iter()
        .chain(INSIGHTS.into_iter().take_while(|i| *i != insight))
        .collect();
    // what it reads, then what those read, …: each query only reads queries before it
    let mut needed = vec![false; earlier.len()];
    let mut texts = vec![insight.sql];
    while let Some(text) = texts.pop() {
        for (i, query) in earlier.iter().enumerate() {
            if !needed[i] && reads(text, query.name) {
                needed[i] = true;
                texts.push(query.sql);
            }
        }
    }
    let with: Vec<String> = earlier
        .iter()
        .zip(needed)
        .filter(|(_, needed)| *needed)
        .map(|(query, _)| format!("{} AS (\n{}\n)", query.name, without_comments(query.sql)))
        .collect();
    let body = without_comments(insight.sql);
    if with.is_empty() {
        body
    } else {
        format!("WITH\n{}\n{body}", with.join(",\n"))
    }
}

/// Whether `sql` names `table` as a whole word.
fn reads(sql: &str, table: &str) -> bool {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    sql.match_indices(table).any(|(at, _)| {
        !word(sql[..at].chars().next_back()) && !word(sql[at + table.len()..].chars().next())
    })
}

/// The text without its `--` comments (none of the files has `--` inside a string) and blank lines.
fn without_comments(sql: &str) -> String {
    sql.lines()
        .map(|line| line.find("--").map_or(line, |at| &line[..at]).trim_end())
        .filter(|line| !line.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_insight_is_a_select_with_a_name_of_its_own() {
        let mut names: Vec<&str> = VIEWS.iter().chain(&INSIGHTS).map(|i| i.name).collect();
        for query in VIEWS.iter().chain(&INSIGHTS) {
            assert!(query.sql.contains("SELECT"), "{}", query.name);
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), VIEWS.len() + INSIGHTS.len());
    }

    #[test]
    fn a_query_reads_only_the_views_and_the_insights_before_it() {
        // top_user_overall is computed from top_user_by_country, which must run first
        let reader = INSIGHTS.iter().position(|i| i.name == "top_user_overall");
        let read = INSIGHTS
            .iter()
            .position(|i| i.name == "top_user_by_country");
        assert!(
            by_name("top_user_overall")
                .unwrap()
                .sql
                .contains("top_user_by_country")
        );
        assert!(read < reader);
        for (i, insight) in INSIGHTS.iter().enumerate() {
            for later in &INSIGHTS[i + 1..] {
                assert!(
                    !insight.sql.contains(later.name),
                    "{} reads {}, computed after it",
                    insight.name,
                    later.name
                );
            }
        }
    }

    #[test]
    fn an_athena_query_carries_every_view_and_insight_it_reads_before_its_own_text() {
        let overall = athena_sql(by_name("top_user_overall").unwrap());
        // top_user_overall reads top_user_by_country, which reads pin_geo: both, in that order
        let geo = overall.find("pin_geo AS (").expect("pin_geo");
        let by_country = overall
            .find("top_user_by_country AS (")
            .expect("top_user_by_country");
        assert!(
            overall.starts_with("WITH\n") && geo < by_country,
            "{overall}"
        );
        assert!(!overall.contains("pin_user"), "{overall}");
        assert!(!overall.contains("--"), "{overall}");

        let users = athena_sql(by_name("users_joined_by_year").unwrap());
        assert!(!users.contains("WITH"), "reads a batch table only: {users}");
        let medians = athena_sql(by_name("median_followers_by_age_group").unwrap());
        assert!(medians.starts_with("WITH\npin_user AS (") && !medians.contains("pin_geo"));
    }

    #[test]
    fn a_name_is_read_only_as_a_whole_word() {
        assert!(reads("FROM pin_geo g", "pin_geo"));
        assert!(reads("FROM pin_geo", "pin_geo"));
        assert!(!reads("FROM pin_geography", "pin_geo"));
        assert!(!reads("FROM my_pin_geo", "pin_geo"));
    }
}
