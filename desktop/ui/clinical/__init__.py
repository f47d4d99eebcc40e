"""The clinical record's screens: the client page's Diagnoses and Treatment plan tabs (and the
review reminder above them), their dialogs, and the goals a note addressed in the note editor.
They reach the record only through ``Practice.clinical``, whose calls audit themselves."""
