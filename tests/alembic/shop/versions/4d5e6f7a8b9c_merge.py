"""merge plan and orders

Revision ID: 4d5e6f7a8b9c
Revises: 2b3c4d5e6f7a, c3d4e5f6a7b8
Create Date: 2026-01-07 09:00:00.000000

"""
revision = '4d5e6f7a8b9c'
down_revision = ('2b3c4d5e6f7a', 'c3d4e5f6a7b8')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
