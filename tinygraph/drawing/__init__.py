"""See backpropagation: draw a recorded graph with its formulas and gradients, or step through it.

    with tg.record_backward() as recording:
        loss.backward()
    tg.draw(loss, recording=recording).render("backprop", format="svg")
    tg.draw_steps(loss, "backprop_steps.html", recording=recording)
    tinygraph.drawing.draw_step(loss, 3, recording=recording)    # one frame, as a drawing

`graph` models the recorded graph, `record` notes what backward did, `layout` wraps long
drawings into rows, `style` decides how it looks, `labels` what each node and edge says,
`render` makes the Graphviz drawing and `steps` the step-through page.
"""
from tinygraph.drawing.record import BackwardRecording, GradStat, record_backward
from tinygraph.drawing.render import draw
from tinygraph.drawing.steps import draw_step, draw_steps

__all__ = ["BackwardRecording", "GradStat", "draw", "draw_step", "draw_steps", "record_backward"]
