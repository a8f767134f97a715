//! The demo's HTML report, pure: one section per insight with a bar chart (inline SVG: no script,
//! no network, renders anywhere) and its rows as a table.

use serde_json::Value;

/// Bars per chart: the largest values.
const BARS: usize = 20;
/// Rows per table.
const ROWS: usize = 20;

/// What each insight answers (spec §5).
pub fn describe(insight: &str) -> &'static str {
    match insight {
        "popular_category_by_country" => "The most posted category in each country",
        "posts_per_category_by_year" => "Posts per category per year",
        "top_user_by_country" => "The poster with the most followers in each country",
        "top_user_overall" => "The country whose top poster has the most followers",
        "popular_category_by_age_group" => "The most posted category in each age group",
        "median_followers_by_age_group" => "Median follower count per age group",
        "users_joined_by_year" => "Users joined per year",
        "median_followers_by_join_year" => "Median follower count by the year users joined",
        "median_followers_by_age_group_and_join_year" => {
            "Median follower count by age group and join year"
        }
        _ => "",
    }
}

/// One insight's rows: column names, and each row's values in that order.
pub struct Section<'a> {
    pub insight: &'a str,
    pub columns: &'a [String],
    pub rows: &'a [Vec<Value>],
}

/// A row as (column, value) pairs, in column order.
type Row<'a> = Vec<(&'a str, &'a Value)>;

fn pairs<'a>(columns: &'a [String], row: &'a [Value]) -> Row<'a> {
    columns.iter().map(String::as_str).zip(row.iter()).collect()
}

/// The whole report: a title, a line of context, the sections.
pub fn html(title: &str, context: &str, sections: &[Section<'_>]) -> String {
    let mut out = String::with_capacity(64 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str(&format!("<title>{}</title>", escape(title)));
    out.push_str(
        "<style>body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#222}\
         h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2.5rem}p.what{color:#555}\
         table{border-collapse:collapse;font-size:.85rem;margin-top:.5rem}\
         td,th{border-bottom:1px solid #ddd;padding:.2rem .6rem;text-align:left}\
         td.n{text-align:right;font-variant-numeric:tabular-nums}svg text{font-size:12px}</style>",
    );
    out.push_str("</head><body>\n");
    out.push_str(&format!(
        "<h1>{}</h1><p>{}</p>\n",
        escape(title),
        escape(context)
    ));
    for section in sections {
        out.push_str(&format!(
            "<section id=\"{0}\"><h2>{0}</h2><p class=\"what\">{1} — {2} rows</p>\n",
            escape(section.insight),
            escape(describe(section.insight)),
            section.rows.len()
        ));
        let mut rows: Vec<Row<'_>> = section
            .rows
            .iter()
            .map(|r| pairs(section.columns, r))
            .collect();
        // the table in the chart's order: largest first
        if let Some(column) = rows.first().and_then(value_column) {
            let value = |r: &Row<'_>| {
                r.iter()
                    .find(|(k, _)| *k == column)
                    .and_then(|(_, v)| v.as_f64())
                    .unwrap_or(f64::NEG_INFINITY)
            };
            rows.sort_by(|a, b| {
                value(b)
                    .total_cmp(&value(a))
                    .then_with(|| label(a, column).cmp(&label(b, column)))
            });
        }
        out.push_str(&chart(&rows));
        out.push_str(&table(section.columns, &rows));
        out.push_str("</section>\n");
    }
    out.push_str("</body></html>\n");
    out
}

/// The value a row is charted by: its last numeric column other than `run_date`.
fn value_column<'a>(row: &Row<'a>) -> Option<&'a str> {
    row.iter()
        .rev()
        .find(|(k, v)| *k != "run_date" && v.is_number() && !k.ends_with("year"))
        .or_else(|| {
            row.iter()
                .rev()
                .find(|(k, v)| *k != "run_date" && v.is_number())
        })
        .map(|(k, _)| *k)
}

fn label(row: &Row<'_>, value: &str) -> String {
    let parts: Vec<String> = row
        .iter()
        .filter(|(k, _)| *k != value && *k != "run_date")
        .map(|(_, v)| match v {
            Value::String(s) => s.clone(),
            Value::Null => "—".into(),
            other => other.to_string(),
        })
        .collect();
    parts.join(" · ")
}

/// The rows as (label, value), largest first (ties by label), with the value's column name.
fn ranked<'a>(rows: &[Row<'a>]) -> Option<(&'a str, Vec<(String, f64)>)> {
    let column = rows.first().and_then(value_column)?;
    let mut bars: Vec<(String, f64)> = rows
        .iter()
        .filter_map(|r| {
            let value = r.iter().find(|(k, _)| *k == column)?.1.as_f64()?;
            Some((label(r, column), value))
        })
        .collect();
    bars.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Some((column, bars))
}

/// A section as plain text for a terminal: the insight, then up to `limit` rows largest first.
pub fn text(section: &Section<'_>, limit: usize) -> String {
    let rows: Vec<Row<'_>> = section
        .rows
        .iter()
        .map(|r| pairs(section.columns, r))
        .collect();
    let mut out = format!(
        "{} — {} ({} rows)\n",
        section.insight,
        describe(section.insight),
        rows.len()
    );
    let Some((column, ranked)) = ranked(&rows) else {
        return out;
    };
    let width = ranked
        .iter()
        .take(limit)
        .map(|(l, _)| l.chars().count().min(60))
        .max()
        .unwrap_or(0);
    for (name, value) in ranked.iter().take(limit) {
        let shown: String = name.chars().take(60).collect();
        let pad = width - shown.chars().count();
        out.push_str(&format!(
            "  {shown}{}  {column} {}\n",
            " ".repeat(pad),
            number(*value)
        ));
    }
    if ranked.len() > limit {
        out.push_str(&format!("  … {} more\n", ranked.len() - limit));
    }
    out
}

fn chart(rows: &[Row<'_>]) -> String {
    let Some((column, mut bars)) = ranked(rows) else {
        return "<p>(nothing to chart)</p>\n".into();
    };
    bars.truncate(BARS);
    let max = bars
        .iter()
        .map(|b| b.1)
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let (label_w, bar_w, row_h) = (330.0, 360.0, 20.0);
    let height = row_h * bars.len() as f64 + 24.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" width=\"{w}\" height=\"{height}\" \
         aria-label=\"{column}\"><text x=\"{label_w}\" y=\"14\" fill=\"#555\">{column}</text>\n",
        w = label_w + bar_w + 90.0,
        column = escape(column)
    );
    for (i, (name, value)) in bars.iter().enumerate() {
        let y = 24.0 + row_h * i as f64;
        let width = (value / max * bar_w).max(1.0);
        let shown: String = name.chars().take(48).collect();
        svg.push_str(&format!(
            "<text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">{label}</text>\
             <rect class=\"bar\" x=\"{label_w}\" y=\"{y}\" width=\"{width:.1}\" height=\"{h}\" fill=\"#e60023\"/>\
             <text x=\"{vx:.1}\" y=\"{ty}\">{value}</text>\n",
            lx = label_w - 6.0,
            ty = y + 13.0,
            label = escape(&shown),
            h = row_h - 4.0,
            vx = label_w + width + 4.0,
            value = number(*value),
        ));
    }
    svg.push_str("</svg>\n");
    svg
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.1}")
    }
}

fn table(columns: &[String], rows: &[Row<'_>]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut out = String::from("<table><tr>");
    for key in columns {
        out.push_str(&format!("<th>{}</th>", escape(key)));
    }
    out.push_str("</tr>\n");
    for row in rows.iter().take(ROWS) {
        out.push_str("<tr>");
        for (_, value) in row {
            let (class, text) = match *value {
                Value::String(s) => ("", s.clone()),
                Value::Null => ("", String::new()),
                Value::Number(n) => (" class=\"n\"", n.to_string()),
                other => ("", other.to_string()),
            };
            out.push_str(&format!("<td{class}>{}</td>", escape(&text)));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    if rows.len() > ROWS {
        out.push_str(&format!("<p>… and {} more rows</p>\n", rows.len() - ROWS));
    }
    out
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn columns(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn a_section_charts_the_count_column_largest_first_and_escapes_text() {
        let names = columns(&["country", "category", "category_count", "run_date"]);
        let data = vec![
            vec![json!("Chad"), json!("art"), json!(3), json!("2026-11-27")],
            vec![json!("<Peru>"), json!("diy"), json!(7), json!("2026-11-27")],
        ];
        let page = html(
            "pinpipe demo",
            "2 posts",
            &[Section {
                insight: "popular_category_by_country",
                columns: &names,
                rows: &data,
            }],
        );
        assert!(page.contains("The most posted category in each country — 2 rows"));
        assert!(page.contains("&lt;Peru&gt; · diy"));
        assert!(!page.contains("<Peru>"));
        assert_eq!(page.matches("<rect class=\"bar\"").count(), 2);
        let first = page.find("&lt;Peru&gt; · diy").unwrap();
        assert!(first < page.find("Chad · art").unwrap(), "largest first");
        assert!(page.contains("aria-label=\"category_count\""));
        let section = Section {
            insight: "popular_category_by_country",
            columns: &names,
            rows: &data,
        };
        assert_eq!(
            text(&section, 1),
            "popular_category_by_country — The most posted category in each country (2 rows)\n  \
             <Peru> · diy  category_count 7\n  … 1 more\n"
        );
    }

    #[test]
    fn a_year_column_is_a_label_and_the_median_is_the_value() {
        let names = columns(&["post_year", "median_follower_count"]);
        let values = [json!(2016), json!(5000.0)];
        let row = pairs(&names, &values);
        assert_eq!(value_column(&row), Some("median_follower_count"));
        assert_eq!(label(&row, "median_follower_count"), "2016");
        let names = columns(&["post_year", "number_users_joined"]);
        let values = [json!(2016), json!(12)];
        assert_eq!(
            value_column(&pairs(&names, &values)),
            Some("number_users_joined")
        );
    }
}
