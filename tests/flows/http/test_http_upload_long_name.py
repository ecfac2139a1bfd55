"""An upload's long file name is cut before its extension: cut to 120 characters it lost `.tsv`,
and the file was sniffed as CSV, its quotes read as quoting."""

from __future__ import annotations


def test_a_long_tsv_name_keeps_its_extension_and_is_read_as_tsv(http_client, http_api):
    content = b'id\tnote\n1\t"12 inch\n2\tok\n3\tsay "hi"\n'
    name = "x" * 200 + ".tsv"
    response = http_client.post("/v1/ingest", data={"table": "long_name"}, files={"file": (name, content)})
    assert response.status_code == 200, response.text
    assert http_api.lakehouse.sql.query("SELECT id, note FROM long_name ORDER BY id").rows == [
        [1, '"12 inch'],
        [2, "ok"],
        [3, 'say "hi"'],
    ]
