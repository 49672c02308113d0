"""Chemistry and embedding arithmetic in the unified space: element maps, group coherence,
periodic trends, structure-level cumulant features, material / polymorph / reaction arithmetic."""
