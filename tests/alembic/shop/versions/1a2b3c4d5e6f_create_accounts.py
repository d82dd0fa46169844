"""create accounts

Revision ID: 1a2b3c4d5e6f
Revises:
Create Date: 2026-01-05 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '1a2b3c4d5e6f'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    accounts = op.create_table(
        'accounts',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('email', sa.String(length=120), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column('created_at', sa.DateTime(), nullable=True, server_default=sa.func.now()),
        sa.UniqueConstraint('email', name='uq_accounts_email'),
    )
    op.create_index(op.f('ix_accounts_created_at'), 'accounts', ['created_at'], unique=False)
    op.bulk_insert(accounts, [
        {'id': 1, 'email': 'Ada@Corp.example'},
        {'id': 2, 'email': 'grace@home.example'},
        {'id': 3, 'email': "o'brien@corp.example"},
    ])


def downgrade():
    op.drop_index(op.f('ix_accounts_created_at'), table_name='accounts')
    op.drop_table('accounts')
