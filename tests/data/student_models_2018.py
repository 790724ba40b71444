# Model code in the style of the course's 2017-2018 students, written into sample_models.py below its
# imports: Keras 2 calls, some with Keras 1's argument names (which Keras 2.0 still converted), Keras 2
# layers and functions beyond the template's import line, and nothing imported here.
# tests/test_keras2_vocabulary.py places it in a copy of sample_models.py and derives each builder's
# Keras 2 parameter count by hand.


def make_model(input_data, y_pred, output_length=lambda x: x):
    """ The end of every builder: the model, its output length, its summary
    """
    model = Model(inputs=input_data, outputs=y_pred)
    model.output_length = output_length
    print(model.summary())
    return model


def lstm_model(input_dim, units, output_dim=29):
    """ Two LSTMs with dropout, written once in Keras 1's spelling and once in Keras 2's
    """
    input_data = Input(name='the_input', shape=(None, input_dim))
    rnn_1 = LSTM(units, return_sequences=True, dropout_W=0.2, dropout_U=0.2, name='rnn_1')(input_data)
    bn_1 = BatchNormalization(name='bn_1')(rnn_1)
    rnn_2 = LSTM(units, return_sequences=True, dropout=0.2, recurrent_dropout=0.2, name='rnn_2')(bn_1)
    bn_2 = BatchNormalization(name='bn_2')(rnn_2)
    time_dense = TimeDistributed(Dense(output_dim))(bn_2)
    y_pred = Activation('softmax', name='softmax')(time_dense)
    return make_model(input_data, y_pred)


def conv2d_rnn_model(input_dim, filters, units, output_dim=29):
    """ The spectrogram as an image: Lambda adds a channel axis, Conv2D looks at time and frequency
    """
    input_data = Input(name='the_input', shape=(None, input_dim))
    image = Lambda(lambda x: K.expand_dims(x, -1), name='add_channel')(input_data)
    conv_2d = Conv2D(filters, (3, 3), padding='same', activation='relu', name='conv2d')(image)
    pool = MaxPooling2D(pool_size=(1, 2), name='pool_freq')(conv_2d)
    flat = Reshape((-1, (input_dim // 2) * filters), name='flatten_freq')(pool)
    rnn = GRU(units, activation='relu', return_sequences=True, implementation=2, name='rnn')(flat)
    bn_rnn = BatchNormalization(name='bn_rnn')(rnn)
    time_dense = TimeDistributed(Dense(output_dim))(bn_rnn)
    y_pred = Activation('softmax', name='softmax')(time_dense)
    return make_model(input_data, y_pred)


def wavenet_model(input_dim, filters, dilations, output_dim=29):
    """ WaveNet-style gated, dilated causal convolutions with residual and skip connections
    """
    input_data = Input(name='the_input', shape=(None, input_dim))
    x = Conv1D(filters, 1, padding='same', name='conv_in')(input_data)
    skips = []
    for rate in dilations:
        tanh_out = Conv1D(filters, 2, dilation_rate=rate, padding='causal', activation='tanh')(x)
        sigm_out = Conv1D(filters, 2, dilation_rate=rate, padding='causal', activation='sigmoid')(x)
        gated = Multiply()([tanh_out, sigm_out])
        res = Conv1D(filters, 1, padding='same')(gated)
        x = add([x, res])
        skips.append(Conv1D(filters, 1, padding='same')(gated))
    out = LeakyReLU(alpha=0.1)(Add()(skips))
    logits = Conv1D(output_dim, 1, kernel_regularizer=regularizers.l2(1e-4), name='logits')(out)
    y_pred = Activation('softmax', name='softmax')(logits)
    return make_model(input_data, y_pred)


class TimeDense(Layer):
    """ A Dense layer over the last axis, written as a Keras 2 custom layer
    """
    def __init__(self, output_dim, **kwargs):
        self.output_dim = output_dim
        super(TimeDense, self).__init__(**kwargs)

    def build(self, input_shape):
        self.kernel = self.add_weight('kernel', (input_shape[2], self.output_dim), initializer='glorot_uniform',
                                      trainable=True)
        self.bias = self.add_weight((self.output_dim,), 'zeros', 'bias')  # Keras 2.0.0's order
        super(TimeDense, self).build(input_shape)

    def call(self, x):
        return K.dot(x, self.kernel) + self.bias

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.output_dim)


def custom_layer_model(input_dim, units, output_dim=29):
    """ GRU with an L2 penalty -> batch normalisation and dropout at each frame -> a custom layer
    """
    input_data = Input(name='the_input', shape=(None, input_dim))
    rnn = GRU(units, activation='relu', return_sequences=True, W_regularizer=l2(1e-4), name='rnn')(input_data)
    bn = TimeDistributed(BatchNormalization(), name='td_bn')(rnn)
    drop = TimeDistributed(Dropout(0.2), name='td_dropout')(bn)
    y_pred = Activation('softmax', name='softmax')(TimeDense(output_dim, name='time_dense')(drop))
    return make_model(input_data, y_pred)


def cudnn_model(input_dim, units, output_dim=29):
    """ The GPU-only recurrent layers of Keras 2.1
    """
    input_data = Input(name='the_input', shape=(None, input_dim))
    bidir = Bidirectional(CuDNNGRU(units, return_sequences=True), name='bidir_cudnn_gru')(input_data)
    bn = BatchNormalization(name='bn_bidir')(bidir)
    lstm = CuDNNLSTM(units, return_sequences=True, name='cudnn_lstm')(bn)
    time_dense = TimeDistributed(Dense(output_dim))(lstm)
    y_pred = Activation('softmax', name='softmax')(time_dense)
    return make_model(input_data, y_pred)


def keras1_conv_model(input_dim, filters, kernel_size, units, output_dim=29):
    """ A convolutional front end written with Keras 1's argument names
    """
    input_data = Input(name='the_input', shape=(None, input_dim))
    noisy = GaussianNoise(sigma=0.1)(input_data)
    conv = Convolution1D(nb_filter=filters, filter_length=kernel_size, border_mode='valid', subsample_length=2,
                         init='he_normal', name='conv1d')(noisy)
    act = PReLU(shared_axes=[1])(conv)
    pool = MaxPool1D(2)(act)
    drop = SpatialDropout1D(p=0.1)(pool)
    rnn = GRU(output_dim=units, activation='relu', return_sequences=True, dropout_W=0.1, dropout_U=0.1,
              consume_less='gpu', name='rnn')(drop)
    time_dense = TimeDistributed(Dense(output_dim=output_dim))(ELU()(rnn))
    y_pred = Activation('softmax', name='softmax')(time_dense)
    model = Model(input=input_data, output=y_pred)
    model.output_length = lambda x: cnn_output_length(
        cnn_output_length(x, kernel_size, 'valid', 2), 2, 'valid', 2)
    print(model.summary())
    return model
