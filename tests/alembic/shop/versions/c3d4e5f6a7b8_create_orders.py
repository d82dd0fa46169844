"""create orders

Revision ID: c3d4e5f6a7b8
Revises: 1a2b3c4d5e6f
Create Date: 2026-01-06 11:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


revision = 'c3d4e5f6a7b8'
down_revision = '1a2b3c4d5e6f'
branch_labels = ('orders',)
depends_on = None


def upgrade():
    op.create_table(
        'orders',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), sa.ForeignKey('accounts.id', ondelete='CASCADE'), nullable=False),
        sa.Column('total', sa.Numeric(10, 2), nullable=False, server_default='0'),
        sa.Column('note', sa.String(40)),
        sa.PrimaryKeyConstraint('id'),
        sa.CheckConstraint('total >= 0', name='ck_orders_total'),
    )
    orders = sa.table('orders', sa.column('id'), sa.column('account_id'), sa.column('total'))
    op.bulk_insert(orders, [
        {'id': 10, 'account_id': 1, 'total': 12.5},
        {'id': 11, 'account_id': 2, 'total': 3},
    ])


def downgrade():
    op.drop_table('orders')
