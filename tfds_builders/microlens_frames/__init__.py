"""`microlens_frames`: one record per item, frames, cover and metadata of a MicroLens subset."""
