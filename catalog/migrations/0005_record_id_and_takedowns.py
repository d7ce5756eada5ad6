"""Records are scoped by origin (``record_id`` beside the local primary key, unique per origin), and
takedowns become facts per record (``RecordTakedown``)."""

from django.db import migrations, models


def fill_record_ids(apps, schema_editor):
    # One statement: every existing row's record id is its primary key (re-runnable).
    Resource = apps.get_model("catalog", "Resource")
    table = schema_editor.quote_name(Resource._meta.db_table)
    schema_editor.execute(f"UPDATE {table} SET record_id = id WHERE record_id IS NULL")


class Migration(migrations.Migration):

    dependencies = [
        ("catalog", "0004_favourites"),
    ]

    operations = [
        migrations.AddField(
            model_name="resource",
            name="record_id",
            field=models.UUIDField(null=True, help_text="The origin's id of the record (the primary key but for id clashes)"),
        ),
        migrations.RunPython(fill_record_ids, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="resource",
            name="record_id",
            field=models.UUIDField(help_text="The origin's id of the record (the primary key but for id clashes)"),
        ),
        migrations.AddConstraint(
            model_name="resource",
            constraint=models.UniqueConstraint(fields=("origin_node", "record_id"), name="resource_unique_origin_record"),
        ),
        migrations.CreateModel(
            name="RecordTakedown",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("origin", models.CharField(max_length=63)),
                ("record_id", models.UUIDField()),
                ("ordered_by", models.CharField(help_text="The node that ordered it: the hub or the origin", max_length=63)),
                ("order_version", models.PositiveBigIntegerField(default=1)),
                ("note", models.TextField(blank=True)),
                ("ordered_at", models.DateTimeField()),
                ("lifted_at", models.DateTimeField(blank=True, null=True)),
                ("lift_note", models.TextField(blank=True)),
                ("republish_on_lift", models.BooleanField(default=False, help_text="The record was public when taken down, or a newer version came since")),
            ],
            options={
                "ordering": ["-ordered_at"],
                "constraints": [models.UniqueConstraint(fields=("origin", "record_id"), name="recordtakedown_unique_record")],
            },
        ),
    ]
