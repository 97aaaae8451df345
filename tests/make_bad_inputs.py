"""Regenerate tests/bad_inputs/ (run by hand: python tests/make_bad_inputs.py)."""

from pathlib import Path

HEADER = (
    "customer_id,name,phone,id_number,region,industry,customer_since,bureau_score,"
    "bureau_score_3m_ago,annual_income,credit_limit,outstanding_balance,overdue_amount,"
    "max_days_past_due_12m,num_credit_lines"
)
ROWS = [
    "0000000001,张伟,13812345678,11010519491231002X,华东,制造业,2015-03-01,720,730,500000.00,"
    "100000.00,20000.00,0.00,0,3",
    "0000000002,李娜,13912345678,440524198001010013,华南,批发零售,2018-06-15,650,660,300000.00,"
    "50000.00,45000.00,1200.00,35,2",
    "0000000003,王芳,15012345678,310101199003070027,华东,信息技术,2020-01-10,,700,800000.00,"
    "200000.00,10000.00,0.00,0,5",
]
HERE = Path(__file__).parent / "bad_inputs"


def write(case: str, text: str | bytes) -> None:
    folder = HERE / case
    folder.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8") if isinstance(text, str) else text
    (folder / "credit.csv").write_bytes(data)


def main() -> None:
    good = "\n".join([HEADER, *ROWS]) + "\n"
    write("empty_file", b"")
    write("header_only", HEADER + "\n")
    write("missing_required_column", good.replace(",credit_limit", ",limit_amt"))
    write("wrong_delimiter", good.replace(",", ";"))
    write("undecodable_bytes", good.encode("utf-8").replace("王芳".encode(), b"\xff\xfe\xff"))
    write("extra_fields", "\n".join([HEADER, ROWS[0], ROWS[1] + ",surplus", ROWS[2]]) + "\n")
    write("duplicate_ids", "\n".join([HEADER, *ROWS, ROWS[1].replace("李娜", "李娜娜")]) + "\n")
    write(
        "formula_cells",
        "\n".join(
            [
                HEADER,
                ROWS[0],
                ROWS[1].replace("李娜", '"=HYPERLINK(""http://x.example"",""点击"")"'),
                ROWS[2].replace("王芳", "@SUM(A1:A9)"),
            ]
        )
        + "\n",
    )
    write("duplicate_header", good.replace("region,industry", "region,region"))
    write("blank_header_line", "\n" + good)
    write("clean", good)
    write("gbk_clean", good.encode("gbk"))
    write("utf8_bom", b"\xef\xbb\xbf" + good.encode("utf-8"))


if __name__ == "__main__":
    main()
