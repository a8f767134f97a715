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
}
