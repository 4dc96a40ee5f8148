"""`microlens`: one record per user, the interactions of a MicroLens subset."""
