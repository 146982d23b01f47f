//! A MariaDB source with the names real tables have (spaces, capitals, a non-ASCII
//! character) read by a PostgreSQL model written as a PostgreSQL user writes it.

use crate::common::*;

/// `o."CustomerName"` in federated SQL reaches MariaDB's `CustomerName` (the engine sees
/// it as `customername`) and the result column keeps the quoted name, as on PostgreSQL;
/// an alias the query defines (`as "CUSTOMER"`) is left alone; the model's introspection
/// of the source asks MariaDB, and so does its `run_query` of the source (in MariaDB's
/// names); a second run gives the same table.
#[tokio::test(flavor = "multi_thread")]
async fn quoted_mixed_case_source_columns_federate_like_postgres_reads_them() {
    use mysql_async::prelude::Queryable;
    let src = unique("dvt_it_odd_src");
    let dst = unique("dvt_it_odd_dst");
    let _cleanup = Cleanup {
        pg_schemas: vec![dst.clone()],
        maria_dbs: vec![src.clone()],
    };
    let mut maria = maria().await;
    maria
        .query_drop(format!(
            "create database `{src}`; create table `{src}`.Orders (`Order ID` int primary key, CustomerName varchar(20), `Amount€` decimal(10,2), IsPaid boolean); \
             insert into `{src}`.Orders values (1, 'Ann', 10.50, 1), (2, 'Bo', null, 0), (3, null, 1, 1)"
        ))
        .await
        .expect("source table");
    let dir = tempfile::tempdir().expect("tempdir");
    write_project(
        dir.path(),
        &[
            ("dbt_project.yml", "name: odd\nprofile: odd\n"),
            (
                "profiles.yml",
                &format!(
                    "odd:\n  target: pg\n  outputs:\n    pg: {{type: postgres, host: 127.0.0.1, user: postgres, dbname: test, schema: {dst}}}\n    maria: {{type: mysql, server: 127.0.0.1, username: root, schema: {src}}}\n"
                ),
            ),
            (
                "models/src.yml",
                &format!(
                    "sources:\n  - name: shop\n    connection: maria\n    schema: {src}\n    tables: [{{name: Orders}}]\n"
                ),
            ),
            (
                "models/paid.sql",
                "{% set cols = adapter.get_columns_in_relation(source('shop', 'Orders')) %}\n\
                 {% set n = run_query('select count(*) from ' ~ source('shop', 'Orders')).rows[0][0] if execute else 0 %}\n\
                 select o.\"Order ID\" as order_id, o.\"CustomerName\", upper(o.\"CustomerName\") as \"CUSTOMER\",\n\
                 o.\"Amount€\" as amount, o.\"IsPaid\" as is_paid, '{{ cols | map(attribute='name') | join('|') }}' as source_columns, {{ n }} as source_rows\n\
                 from {{ source('shop', 'Orders') }} o\nwhere o.\"CustomerName\" is not null",
            ),
        ],
    );
    let client = pg().await;
    for _ in 0..2 {
        dvt(dir.path(), &["run"], &[]).assert_ok();
        let columns = pg_rows(
            &client,
            &format!(
                "select string_agg(column_name, ',' order by ordinal_position) from information_schema.columns where table_schema = '{dst}' and table_name = 'paid'"
            ),
        )
        .await;
        assert_eq!(
            columns,
            [["order_id,CustomerName,CUSTOMER,amount,is_paid,source_columns,source_rows"]]
        );
        let rows = pg_rows(
            &client,
            &format!("select order_id, \"CustomerName\", \"CUSTOMER\", amount, is_paid, source_columns, source_rows from \"{dst}\".paid"),
        )
        .await;
        let source_columns = "Order ID|CustomerName|Amount€|IsPaid";
        assert_eq!(
            rows,
            [
                vec![
                    normalise(Some("1")),
                    "Ann".into(),
                    "ANN".into(),
                    normalise(Some("10.50")),
                    "t".into(),
                    source_columns.into(),
                    normalise(Some("3")),
                ],
                vec![
                    normalise(Some("2")),
                    "Bo".into(),
                    "BO".into(),
                    "NULL".into(),
                    "f".into(),
                    source_columns.into(),
                    normalise(Some("3")),
                ],
            ]
        );
    }
}
