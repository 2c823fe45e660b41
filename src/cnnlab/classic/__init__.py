"""Before CNNs (lecture 004, "Prior to CNNs", "Linear Classification", "Chain Rule and Backpropagation").

- :mod:`.losses`          multiclass SVM (Weston-Watkins) and softmax losses, L2 regularisation
- :mod:`.explain_linear`  the lecture's cat / dog / ship scores and their losses, step by step
- :mod:`.backprop`        an expression's computational graph: forward values, local and upstream gradients
"""
