"""Builders shared by test modules: rows of the credit and transactions exports.

Test modules import these from here, never from conftest.py or from another test module.
"""

from __future__ import annotations

from pathlib import Path

BAD_INPUTS = Path(__file__).parent / "bad_inputs"

CREDIT_HEADER = (
    "customer_id,name,phone,id_number,region,industry,customer_since,bureau_score,"
    "bureau_score_3m_ago,annual_income,credit_limit,outstanding_balance,overdue_amount,"
    "max_days_past_due_12m,num_credit_lines"
)


def credit_row(
    customer_id: str,
    *,
    name: str = "张伟",
    phone: str = "13812345678",
    id_number: str = "11010519491231002X",
    since: str = "2015-03-01",
    bureau: str = "720",
    limit: str = "100000.00",
    balance: str = "20000.00",
    overdue: str = "0.00",
) -> str:
    return (
        f"{customer_id},{name},{phone},{id_number},华东,制造业,{since},{bureau},730,"
        f"500000.00,{limit},{balance},{overdue},0,3"
    )


TXN_HEADER = "txn_id,customer_id,txn_date,amount,txn_type,channel,due_date,paid_date"
