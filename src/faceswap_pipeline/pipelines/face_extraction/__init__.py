"""Face extraction: each person's videos -> aligned face crops of that person, a table and a contact sheet."""
