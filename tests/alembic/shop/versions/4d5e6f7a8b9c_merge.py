"""merge plan and orders

Revision ID: 4d5e6f7a8b9c
Revises: 2b3c4d5e6f7a, 3c4d5e6f7a8b
Create Date: 2026-01-07 09:00:00.000000

"""
revision = '4d5e6f7a8b9c'
down_revision = ('2b3c4d5e6f7a', '3c4d5e6f7a8b')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
