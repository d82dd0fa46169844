"""normalise e-mails, widen notes, add quantities

Revision ID: 5e6f7a8b9c0d
Revises: 4d5e6f7a8b9c
Create Date: 2026-01-08 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine.reflection import Inspector


revision = '5e6f7a8b9c0d'
down_revision = '4d5e6f7a8b9c'
branch_labels = None
depends_on = None


def upgrade():
    bind = op.get_bind()
    # A data migration on the rows as this revision knows them (no application models).
    for row in bind.execute(sa.text("SELECT id, email FROM accounts ORDER BY id")).fetchall():
        bind.execute(
            sa.text("UPDATE accounts SET email = :email WHERE id = :id"),
            {"email": row.email.lower(), "id": row.id},
        )
    with op.batch_alter_table('orders') as batch_op:
        batch_op.alter_column('note', type_=sa.String(200), existing_type=sa.String(40), nullable=True)
        batch_op.add_column(sa.Column('qty', mysql.INTEGER(unsigned=True), nullable=False, server_default='1'))
        batch_op.create_index('ix_orders_total', ['total'])
    if 'audit' not in Inspector.from_engine(bind).get_table_names():
        op.create_table(
            'audit',
            sa.Column('id', sa.Integer(), primary_key=True),
            sa.Column('what', sa.Text(), nullable=False),
        )
    op.execute("INSERT INTO audit (what) VALUES ('normalised')")


def downgrade():
    if sa.inspect(op.get_bind()).has_table('audit'):
        op.drop_table('audit')
    with op.batch_alter_table('orders') as batch_op:
        batch_op.drop_index('ix_orders_total')
        batch_op.drop_column('qty')
        batch_op.alter_column('note', type_=sa.String(40), existing_type=sa.String(200))
