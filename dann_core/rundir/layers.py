"""The layers whose probe features the stream keeps, and their names for people (one place:
the trainer writes them into the manifest, the reader and the dashboard read them here).

    features   G_f's output: what G_d sees (the paper's feature space)
    hidden     G_y's last hidden layer, the input of its last Linear: where the classes are
               separated. For a G_y that is one Linear on G_f (moons_mlp, resnet50) it is the
               features themselves, and the stream stores no copy (manifest: "same_as").
"""

LAYERS = {
    "features": "features (what the domain classifier sees)",
    "hidden": "classifier's hidden layer",
}
